// Package bench holds the benchmarks behind `make bench`: the write path
// (issue 6: a FUSE mount that journals every write, against writing into
// the backing directory directly) and the uploader (issue 7: shipping a
// solver's result file and a small change to it to a local MinIO, against
// rclone and rsync).
//
// Every figure is a ratio against a baseline measured in the same run on
// the same file system (the native directory and the mount's backing
// directory sit under one temporary directory), taken per repetition, and
// reported as the median over the repetitions (-benchtime Nx: one loop
// iteration is one repetition of every configuration, in rotating order).
//
// The benchmarks build cmd/syncfs and cmd/fakesolver into a temporary
// directory and drive them as separate processes, as a job would: the
// benchmark process never serves a FUSE mount itself (a process that
// serves and page-faults on its own mount can deadlock). They need root
// (DirectMount, and dropping the page cache before cold reads), and MinIO
// and rclone for the uploader figures.
//
// Run them all, with the markdown summary, with
//
//	make bench        # scripts/bench.sh; results in bench-results/
//
// or one at a time with
//
//	go test -run '^$' -bench SeqWrite -benchtime 3x -timeout 30m ./tests/bench/
//
// SYNCFS_BENCH_SYNCFS=/path/to/syncfs runs them against a prebuilt binary
// (e.g. one with a profiling endpoint) instead of building cmd/syncfs.
// Plain `go test ./...` runs nothing here: there are only benchmarks.
package bench
