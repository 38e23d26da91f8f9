#!/usr/bin/env bash
# make bench: the write-path (issue 6) and uploader (issue 7) benchmarks of
# tests/bench, and the remote benchmarks (make bench-remote), summed up as
# a markdown table of figures, targets and pass/miss in
# bench-results/summary.md (also printed).
#
# Every figure is a ratio against a baseline measured in the same run on
# the same file system, the median over BENCH_REPS repetitions. Needs root
# (FUSE DirectMount, dropping the page cache), MinIO (see
# internal/miniotest), rclone and rsync. Takes about 25-30 minutes.
#
#   BENCH_REPS=7          repetitions of each write-path figure
#   BENCH_UPLOAD_REPS=5   repetitions of the uploader workload
#   BENCH_META_REPS=3     repetitions of the small-file, SQLite and fsync benchmarks
#   BENCH_REMOTE=0        skip make bench-remote
#   SYNCFS_BENCH_SYNCFS=/path/to/syncfs   measure a prebuilt binary
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
reps=${BENCH_REPS:-7}
upload_reps=${BENCH_UPLOAD_REPS:-5}
meta_reps=${BENCH_META_REPS:-3}
out=bench-results
mkdir -p "$out"
rm -f "$out"/*.reps.txt
raw=$out/raw.txt
remote=$out/remote.txt
: >"$raw"
: >"$remote"
export SYNCFS_BENCH_OUT=$PWD/$out

if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (FUSE DirectMount, drop_caches); the system benchmarks would skip" >&2
fi
for tool in rclone rsync; do
	command -v "$tool" >/dev/null || echo "bench: $tool not found (apt-get install $tool); the uploader benchmark skips" >&2
done

status=0
start=$(date +%s)
# The machine may be shared: record its load average meanwhile (the
# benchmarks alone keep it near 2-3 on 2 cores).
loadlog=$out/loadavg.txt
: >"$loadlog"
(while sleep 5; do cut -d' ' -f1 /proc/loadavg >>"$loadlog"; done) &
loadpid=$!
trap 'kill $loadpid 2>/dev/null' EXIT
run() { # run NAME CMD...: append the command's output to $raw, show it
	echo "== $1" >&2
	shift
	"$@" 2>&1 | tee -a "$raw"
	local rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || status=$rc
}

run "journal cost per write" \
	$GO test -run '^$' -bench '^BenchmarkRecordWrite$' -count 5 ./tests/bench/
run "write path ($reps repetitions)" \
	$GO test -run '^$' -bench '^Benchmark(SeqWrite|SeqWrite64K|RandWrite|ColdRead|WriteRSS)$' -benchtime "${reps}x" -timeout 60m ./tests/bench/
run "uploader ($upload_reps repetitions)" \
	$GO test -run '^$' -bench '^BenchmarkUpload$' -benchtime "${upload_reps}x" -timeout 60m ./tests/bench/
run "publish, plain objects (3 repetitions)" \
	$GO test -run '^$' -bench '^BenchmarkPublish$' -benchtime 3x -timeout 30m ./tests/bench/
run "small files and fsync ($meta_reps repetitions)" \
	$GO test -run '^$' -bench '^Benchmark(Untar|SQLite|FsyncLatency)$' -benchtime "${meta_reps}x" -timeout 60m ./tests/bench/
run "small in-place rewrites, format 2 (3 repetitions)" \
	$GO test -run '^$' -bench '^BenchmarkDelta$' -benchtime 3x -timeout 60m ./tests/bench/
if [ "${BENCH_REMOTE:-1}" != 0 ]; then
	echo "== make bench-remote" >&2
	make --no-print-directory bench-remote GO="$GO" 2>&1 | tee "$remote"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || status=$rc
fi

# Nothing may be left behind.
if grep -q 'fuse\.syncfs' /proc/mounts; then
	echo "bench: syncfs mounts left behind:" >&2
	grep 'fuse\.syncfs' /proc/mounts >&2
	status=1
fi

kill $loadpid 2>/dev/null
load=$(awk '{s += $1; if ($1 > m) m = $1} END {if (NR) printf "mean %.1f, max %.1f", s/NR, m; else print "?"}' "$loadlog")

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . ':!bench-results' 2>/dev/null || rev="$rev (with uncommitted changes)"
{
	echo "## syncfs benchmarks"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, $($GO version | cut -d' ' -f3), kernel $(uname -r)," \
		"$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
		"temp dirs on $(df --output=fstype "${TMPDIR:-/tmp}" | tail -1) ($(df --output=source "${TMPDIR:-/tmp}" | tail -1))." \
		"Took $((($(date +%s) - start) / 60)) minutes; load average meanwhile $load (other work on the machine makes the figures noisier)." \
		"Reproduce with \`make bench\`" \
		"(BENCH_REPS=$reps BENCH_UPLOAD_REPS=$upload_reps); raw output in $raw and $remote" \
		"(benchstat-compatible), per-repetition values in $out/*.reps.txt."
	echo
	$GO run ./tests/bench/benchsummary -reps "$out" "$raw" "$remote"
} >"$out/summary.md" || status=1
echo
cat "$out/summary.md"
exit $status
