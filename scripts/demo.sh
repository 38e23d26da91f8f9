#!/usr/bin/env bash
# make demo: mount a directory whose writes are journaled, shipped to a
# file:// remote in a temp dir, run a solver-like writer into it, and show
# what syncfs recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin

demo=$(mktemp -d /tmp/syncfs-demo.XXXXXX)
mkdir -p "$demo/job" "$demo/backing" "$demo/remote"
cleanup() { "$bin/syncfs" unmount "$demo/job" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== syncfs demo in $demo"
echo "== mount: job dir $demo/job, backing $demo/backing, remote file://$demo/remote"
"$bin/syncfs" mount --backing "$demo/backing" --remote "file://$demo/remote" --exclude '*.tmp' "$demo/job"

echo "== a solver writes 64 MiB of results, rewriting its header and index after every step"
"$bin/fakesolver" -dir "$demo/job" -size 64MiB -steps 8
echo "scratch" > "$demo/job/scratch.tmp"   # excluded: written, never shipped
ls -l "$demo/job"

echo "== status: what the job wrote, as journaled byte ranges not yet shipped"
"$bin/syncfs" status "$demo/job"

echo "== the solver rewrites its header and a block far from the end, long after writing them"
printf 'HEADER REWRITTEN AFTER THE RUN' | dd of="$demo/job/job.odb" bs=1 seek=0 conv=notrunc status=none
head -c 65536 /dev/urandom | dd of="$demo/job/job.odb" bs=65536 seek=500 conv=notrunc status=none

echo "== flush --wait: returns when the remote holds every byte"
"$bin/syncfs" flush --wait "$demo/job"
"$bin/syncfs" status "$demo/job"

echo "== verify: the remote, read back through its format, equals the job dir byte for byte"
"$bin/syncfs" verify --remote "file://$demo/remote" --exclude '*.tmp' "$demo/job"

echo "== unmount"
"$bin/syncfs" unmount "$demo/job"
trap - EXIT
echo "== done: the backing dir keeps the bytes, the remote holds the shipped objects:"
ls -l "$demo/backing"
du -sh "$demo/backing" "$demo/remote"
