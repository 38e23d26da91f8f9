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

echo "== status: every byte the job wrote, as journaled byte ranges"
"$bin/syncfs" status "$demo/job"

echo "== unmount"
"$bin/syncfs" unmount "$demo/job"
trap - EXIT
echo "== done; the backing dir keeps the bytes, the state dir the journal:"
ls -la "$demo" "$demo/backing"
