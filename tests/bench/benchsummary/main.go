// Command benchsummary turns the output of the syncfs benchmarks (go test
// -bench, as scripts/bench.sh runs them) into the markdown table of
// figures, targets and results that `make bench` prints.
//
//	go run ./tests/bench/benchsummary -reps bench-results bench-results/raw.txt [more.txt...]
//
// A figure that appears on several lines (-count N) is the median of its
// values. A figure missing from the input is shown as not measured.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to the values seen, and the name to its iteration counts.
type results struct {
	vals  map[string]map[string][]float64
	iters map[string][]int
	reps  map[string]map[string][]float64 // per-repetition values from NAME.reps.txt
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

func (r *results) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		n, _ := strconv.Atoi(m[2])
		r.iters[name] = append(r.iters[name], n)
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if r.vals[name] == nil {
				r.vals[name] = map[string][]float64{}
			}
			r.vals[name][f[i+1]] = append(r.vals[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

// readReps reads the per-repetition values the benchmarks wrote to dir
// (NAME.reps.txt: "unit v1 v2 ..." lines).
func (r *results) readReps(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.reps.txt"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".reps.txt")
		r.reps[name] = map[string][]float64{}
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || strings.HasPrefix(f[0], "#") {
				continue
			}
			for _, x := range f[1:] {
				if v, err := strconv.ParseFloat(x, 64); err == nil {
					r.reps[name][f[0]] = append(r.reps[name][f[0]], v)
				}
			}
		}
	}
}

// spread returns "min–max" of a figure's repetitions, or "".
func (r *results) spread(name, unit, format string) string {
	v := r.reps[strings.ReplaceAll(name, "/", "_")][unit]
	if len(v) < 2 {
		return ""
	}
	return fmt.Sprintf(format, slices.Min(v)) + "–" + fmt.Sprintf(format, slices.Max(v))
}

// get returns the median of a figure.
func (r *results) get(name, unit string) (float64, bool) {
	v := r.vals[name][unit]
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// repCount says how many repetitions a figure's medians are over.
func (r *results) repCount(name string) string {
	it := r.iters[name]
	if len(it) == 0 {
		return ""
	}
	if len(it) == 1 {
		return strconv.Itoa(it[0])
	}
	if it[0] > 100 { // a micro-benchmark: runs of b.N calls each
		return fmt.Sprintf("%d runs", len(it))
	}
	return fmt.Sprintf("%d×%d", len(it), it[0])
}

// row is one line of the table.
type row struct {
	label  string
	bench  string
	unit   string
	format string  // of the measured value
	cmp    string  // ">=", "<=", "<", or "" for a figure without a target
	target float64 // in the unit of the value
	detail func(g getter) string
}

type getter func(name, unit string) string

func (row row) result(v float64) string {
	switch row.cmp {
	case ">=":
		return passMiss(v >= row.target)
	case "<=":
		return passMiss(v <= row.target)
	case "<":
		return passMiss(v < row.target)
	}
	return "info"
}

func passMiss(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**MISS**"
}

// fmtd formats a figure for the details column, "?" when missing.
func fmtd(r *results) getter {
	return func(name, unit string) string {
		v, ok := r.get(name, unit)
		if !ok {
			return "?"
		}
		switch {
		case v >= 100:
			return strconv.FormatFloat(v, 'f', 0, 64)
		case v >= 10:
			return strconv.FormatFloat(v, 'f', 1, 64)
		default:
			return strconv.FormatFloat(v, 'f', 2, 64)
		}
	}
}

const (
	seq    = "BenchmarkSeqWrite"
	seq64  = "BenchmarkSeqWrite64K"
	rnd    = "BenchmarkRandWrite"
	cold   = "BenchmarkColdRead"
	rss    = "BenchmarkWriteRSS"
	jseq   = "BenchmarkRecordWrite/seq"
	jrnd   = "BenchmarkRecordWrite/random"
	upload = "BenchmarkUpload"

	untar    = "BenchmarkUntar"
	sqlite   = "BenchmarkSQLite"
	fsyncLat = "BenchmarkFsyncLatency"
	delta    = "BenchmarkDelta"
)

// deltaRows are issue 15's rows for one workload: sent against modified
// (target: 1.2x for page workloads, 1.0x for the others), lifetime sent
// against written, stored against compressed.
func deltaRows(w, label string, target float64) []row {
	return []row{
		{label + ": bytes sent / bytes modified", delta, w + "-sent/modified", "%.2fx", "<=", target,
			func(g getter) string {
				return fmt.Sprintf("modified %s MB; uploaded %sx; rclone (whole files) %sx", g(delta, w+"-modified-MB"), g(delta, w+"-uploaded/modified"), g(delta, w+"-rclone/modified"))
			}},
		{label + ": lifetime sent / written through the mount", delta, w + "-lifetime-sent/written", "%.2fx", "<=", 1.0,
			func(g getter) string {
				return fmt.Sprintf("over the least any writer could write (size after setup + modified): %sx", g(delta, w+"-lifetime-sent/least-written"))
			}},
		{label + ": remote stored / compressed current", delta, w + "-stored/compressed", "%.2fx", "<=", 1.3, nil},
	}
}

type section struct {
	title string
	note  string
	rows  []row
}

var sections = []section{
	{
		title: "Issue 6: write path",
		note: "Every mount here runs with `--upload=false` (journal on, uploader off, so it does not compete for disk and CPU). " +
			"Ratios are native time / mount time per repetition (>1: the mount was faster), medians over the repetitions; " +
			"the native baseline writes into a directory beside the backing dirs on the same file system, in the same run, in rotating order, with the page cache dropped and 6 GiB of memory touched and freed before each measurement (in this VM the first touch of a page costs a host fault; see warmMemory in tests/bench), with free page reporting held off so that the touched memory stays with the guest. " +
			"Cold reads: the files are written through the mounts, then each mount is unmounted and mounted again, so that the new daemon has seen no writable open " +
			"(a read-only open gets passthrough only after 2 s without one); the daemon's CPU time during the read shows whether passthrough served it. " +
			"Daemon CPU is utime+stime of the daemon process from /proc/PID/stat; RSS is VmRSS from /proc/PID/status, sampled every 100 ms.",
		rows: []row{
			{"Sequential 1 MiB writes, 2 GiB + fsync: mount / native (writeback cache on)", seq, "x-mount/native", "%.2fx", ">=", 0.75,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s, native %s MB/s", g(seq, "mount-MB/s"), g(seq, "native-MB/s"))
				}},
			{"Sequential, writeback cache off: mount / native", seq, "x-nowb/native", "%.2fx", "", 0,
				func(g getter) string { return fmt.Sprintf("mount %s MB/s", g(seq, "nowb-MB/s")) }},
			{"Sequential, `--direct-writes`: mount / native", seq, "x-direct/native", "%.2fx", ">=", 0.75,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU %s s/GB", g(seq, "direct-MB/s"), g(seq, "direct-cpu-s/GB"))
				}},
			{"Sequential 64 KiB writes, 1 GiB + fsync: mount / native (writeback cache on)", seq64, "x-mount/native", "%.2fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s, native %s MB/s", g(seq64, "mount-MB/s"), g(seq64, "native-MB/s"))
				}},
			{"Sequential 64 KiB writes, `--direct-writes`: mount / native", seq64, "x-direct/native", "%.2fx", "", 0,
				func(g getter) string { return fmt.Sprintf("mount %s MB/s", g(seq64, "direct-MB/s")) }},
			{"Journaling overhead, sequential: mount / same mount with `--exclude '*'` (nothing journaled)", seq, "x-journal/nojournal", "%.2fx", ">=", 0.95,
				func(g getter) string {
					return fmt.Sprintf("no journal %s MB/s; daemon CPU %s vs %s s/GB", g(seq, "nojournal-MB/s"), g(seq, "mount-cpu-s/GB"), g(seq, "nojournal-cpu-s/GB"))
				}},
			{"4 KiB random writes (65536 into a 256 MiB file) + fsync: mount / native", rnd, "x-mount/native", "%.2fx", ">=", 0.5,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s, native %s MB/s; daemon CPU %s µs/write", g(rnd, "mount-MB/s"), g(rnd, "native-MB/s"), g(rnd, "mount-cpu-us/write"))
				}},
			{"4 KiB random writes, writeback cache off: mount / native", rnd, "x-nowb/native", "%.2fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU %s µs/write", g(rnd, "nowb-MB/s"), g(rnd, "nowb-cpu-us/write"))
				}},
			{"4 KiB random writes, `--direct-writes`: mount / native", rnd, "x-direct/native", "%.2fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU %s µs/write", g(rnd, "direct-MB/s"), g(rnd, "direct-cpu-us/write"))
				}},
			{"Journaling overhead, 4 KiB random: mount / `--exclude '*'`", rnd, "x-journal/nojournal", "%.2fx", "", 0,
				func(g getter) string { return fmt.Sprintf("no journal %s MB/s", g(rnd, "nojournal-MB/s")) }},
			{"Cold read of a 2 GiB file opened read-only, default mount (passthrough asked for, writeback cache on): mount / native", cold, "x-mount/native", "%.2fx", ">=", 0.95,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s, native %s MB/s; daemon CPU during the read %s s (the kernel refuses passthrough with the writeback cache)",
						g(cold, "mount-MB/s"), g(cold, "native-MB/s"), g(cold, "mount-daemon-cpu-s"))
				}},
			{"Cold read, `--writeback-cache=false` (passthrough in effect): mount / native", cold, "x-nowb/native", "%.2fx", ">=", 0.95,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU during the read %s s", g(cold, "nowb-MB/s"), g(cold, "nowb-daemon-cpu-s"))
				}},
			{"Cold read, `--direct-writes` (passthrough in effect): mount / native", cold, "x-direct/native", "%.2fx", ">=", 0.95,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU during the read %s s", g(cold, "direct-MB/s"), g(cold, "direct-daemon-cpu-s"))
				}},
			{"Cold read, `--passthrough=false`: mount / native", cold, "x-nopassthrough/native", "%.2fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s MB/s; daemon CPU during the read %s s", g(cold, "nopassthrough-MB/s"), g(cold, "nopassthrough-daemon-cpu-s"))
				}},
			{"Journal cost per write, `RecordWrite`, sequential 4 KiB", jseq, "ns/op", "%.0f ns", "", 0,
				func(g getter) string {
					return fmt.Sprintf("%s allocs/op, %s B/op", g(jseq, "allocs/op"), g(jseq, "B/op"))
				}},
			{"Journal cost per write, `RecordWrite`, random 4 KiB in 256 MiB", jrnd, "ns/op", "%.0f ns", "", 0,
				func(g getter) string {
					return fmt.Sprintf("%s allocs/op, %s B/op", g(jrnd, "allocs/op"), g(jrnd, "B/op"))
				}},
			{"Daemon CPU per GB written (sequential 1 MiB writes, user+sys)", seq, "mount-cpu-s/GB", "%.2f s/GB", "", 0,
				func(g getter) string {
					return fmt.Sprintf("4 GiB run: %s s/GB; writeback off: %s s/GB", g(rss, "cpu-s/GB"), g(seq, "nowb-cpu-s/GB"))
				}},
			{"Daemon RSS while writing 4 GiB (max of VmRSS sampled every 100 ms)", rss, "max-rss-MiB", "%.0f MiB", "<", 100,
				func(g getter) string {
					return fmt.Sprintf("VmHWM %s MiB; max RssAnon %s MiB; %s MB/s", g(rss, "hwm-MiB"), g(rss, "max-rss-anon-MiB"), g(rss, "MB/s-rep"))
				}},
		},
	},
	{
		title: "Issue 7: uploader, local MinIO",
		note: "A 1 GiB solver-like file (cmd/fakesolver, float32 fields) written through a mount with default options (uploads on) and shipped with `flush --wait`; " +
			"then 1 % rewritten in 64 KiB blocks at random aligned offsets, a new 4 KiB header at offset 0, 5 % appended (\"modified\" = those bytes, about 64 MB), and a second `flush --wait`. " +
			"Bytes read and sent are `syncfs status --json` deltas (read_bytes, sent_bytes) around the change and its flush. " +
			"rclone 1.60 with its defaults copies the same file from the backing dir to the same MinIO (its time includes its start, as the flush command's does).",
		rows: []row{
			{"Change: bytes read from local disk / bytes modified", upload, "read/modified", "%.2f", "<=", 1.1,
				func(g getter) string {
					return fmt.Sprintf("modified %s MB; rsync reads both copies: %s (from the disk, cold cache)", g(upload, "modified-MB"), g(upload, "rsync-disk-read/modified"))
				}},
			{"Change: bytes sent / bytes modified", upload, "sent/modified", "%.2f", "<=", 1.0,
				func(g getter) string {
					return fmt.Sprintf("file bytes shipped %s; rclone sends %s (the whole file); rsync literal data %s, bytes sent %s",
						g(upload, "uploaded/modified"), g(upload, "rclone-sent/modified"), g(upload, "rsync-literal/modified"), g(upload, "rsync-sent/modified"))
				}},
			{"Change: `rclone copy` time / `flush --wait` time", upload, "x-rclone/flush-change", "%.1fx", ">=", 10,
				func(g getter) string {
					return fmt.Sprintf("flush %s s, rclone %s s; rsync to a local copy %s s; daemon CPU in the flush %s s",
						g(upload, "change-flush-s"), g(upload, "rclone-change-s"), g(upload, "rsync-s"), g(upload, "change-flush-cpu-s"))
				}},
			{"First upload, `flush --wait` alone (after the write): syncfs / rclone MB/s", upload, "x-first-flush/rclone", "%.2fx", ">=", 1.5,
				func(g getter) string {
					return fmt.Sprintf("syncfs %s MB/s (%s s, daemon CPU %s s), rclone %s MB/s; shipped during the write: %s MB; sent %s of the file size",
						g(upload, "first-flush-MB/s"), g(upload, "first-flush-s"), g(upload, "first-flush-cpu-s"), g(upload, "rclone-first-MB/s"),
						g(upload, "first-shipped-during-write-MB"), g(upload, "first-sent/size"))
				}},
			{"First upload, end to end: (native write + `rclone copy`) time / (write through the mount + `flush --wait`) time", upload, "x-first-write+flush/native-write+rclone", "%.2fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("syncfs %s MB/s (write %s s + flush); native write %s s + rclone: %s MB/s",
						g(upload, "first-write+flush-MB/s"), g(upload, "first-write-s"), g(upload, "native-write-s"), g(upload, "native-write+rclone-MB/s"))
				}},
			{"Daemon RSS throughout (max of VmRSS sampled every 100 ms, mount to unmount)", upload, "max-rss-MiB", "%.0f MiB", "<", 150,
				func(g getter) string {
					return fmt.Sprintf("VmHWM %s MiB; max RssAnon %s MiB", g(upload, "hwm-MiB"), g(upload, "max-rss-anon-MiB"))
				}},
		},
	},
	{
		title: "Issue 14: many small files and fsync-heavy writers (uploads on, file:// remote)",
		note: "Mount with uploads on (a file:// remote on the same disk); the same work natively in a directory beside the backing dir, in alternating order. " +
			"Ratios here are mount time / native time (<= 2: at most twice as slow). " +
			"Untar: `tar -xf` of a tar of Go's own source tree (every machine with Go has it), then `rm -rf` of it. SQLite: Debian's sqlite3 CLI, 1000 single-row UPDATEs in autocommit (one transaction each) on a 64 MiB database.",
		rows: []row{
			{"tar -x of the Go source tree: mount / native time", untar, "untar-x-mount/native", "%.1fx", "<=", 2,
				func(g getter) string {
					return fmt.Sprintf("%s entries; mount %s s, native %s s; flush --wait after it %s s", g(untar, "entries"), g(untar, "untar-mount-s"), g(untar, "untar-native-s"), g(untar, "flush-s"))
				}},
			{"rm -rf of it: mount / native time", untar, "rm-x-mount/native", "%.1fx", "<=", 2,
				func(g getter) string {
					return fmt.Sprintf("mount %s s, native %s s", g(untar, "rm-mount-s"), g(untar, "rm-native-s"))
				}},
			{"Daemon CPU per 10,000 entries (tar -x, flush, rm -rf, flush)", untar, "cpu-s/10k-files", "%.1f s", "", 0, nil},
			{"Daemon peak RSS during tar -x, flush, rm -rf", untar, "peak-rss-MiB", "%.0f MiB", "<", 100, nil},
			{"1000 SQLite transactions, rollback journal: mount / native time", sqlite, "rollback-x-mount/native", "%.1fx", "<=", 1.5,
				func(g getter) string {
					return fmt.Sprintf("mount %s ms/txn, native %s ms/txn", g(sqlite, "rollback-mount-ms/txn"), g(sqlite, "rollback-native-ms/txn"))
				}},
			{"1000 SQLite transactions, WAL: mount / native time", sqlite, "wal-x-mount/native", "%.1fx", "<=", 1.5,
				func(g getter) string {
					return fmt.Sprintf("mount %s ms/txn, native %s ms/txn", g(sqlite, "wal-mount-ms/txn"), g(sqlite, "wal-native-ms/txn"))
				}},
			{"4 KiB write + fsync latency, p50: mount / native", fsyncLat, "p50-x-mount/native", "%.1fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s µs, native %s µs", g(fsyncLat, "mount-p50-us"), g(fsyncLat, "native-p50-us"))
				}},
			{"4 KiB write + fsync latency, p99: mount / native", fsyncLat, "p99-x-mount/native", "%.1fx", "", 0,
				func(g getter) string {
					return fmt.Sprintf("mount %s µs, native %s µs", g(fsyncLat, "mount-p99-us"), g(fsyncLat, "native-p99-us"))
				}},
		},
	},
	{
		title: "Issue 15: small in-place rewrites (format 2, 4 KiB pages; uploads on, file:// remote)",
		note: "Each workload runs on a fresh prefix: setup, `flush --wait`, a snapshot, the change, `flush --wait`. Modified: the 4 KiB pages that differ from the snapshot plus bytes appended. " +
			"Sent: bytes put for the change, compressed, manifests included. Lifetime: bytes put for setup and change over the bytes the application wrote through the mount (`status --json` written_bytes: SQLite's rollback journal and WAL included). " +
			"Stored: the remote's bytes for the workload over the zstd size of its current files in 1 MiB frames. rclone re-sends every changed file whole (its figure is the changed files' size).",
		rows: slices.Concat(
			deltaRows("sqlite-rollback", "SQLite 1000 UPDATEs, rollback journal, 200 MiB", 1.2),
			deltaRows("sqlite-wal", "SQLite 1000 UPDATEs, WAL, 200 MiB", 1.2),
			deltaRows("fortran", "Fortran direct access, 100 random 2 KiB records of 128 MiB", 1.2),
			deltaRows("abaqus", "ABAQUS-like: header, 1 % in 64 KiB blocks, 5 % appended, 256 MiB", 1.0),
			deltaRows("hdf5", "HDF5-like: 3 chunks of 1 MiB, B-tree, heap, superblock, 256 MiB", 1.0),
		),
	},
	{
		title: "Issue 2: remote puts and gets (`make bench-remote`, for context)",
		note:  "remote/s3 benchmarks against the same kind of local MinIO: random (incompressible) objects, medians over the runs.",
		rows: []row{
			{"Put 64 MiB: syncfs / `rclone copy` throughput", "BenchmarkPutVsRclone/64MiB", "ratio", "%.2fx", ">=", 1.5,
				func(g getter) string {
					return fmt.Sprintf("syncfs %s MB/s, rclone %s MB/s", g("BenchmarkPutVsRclone/64MiB", "syncfs-MB/s"), g("BenchmarkPutVsRclone/64MiB", "rclone-MB/s"))
				}},
			{"Put 4 MiB: syncfs / `rclone copy` throughput", "BenchmarkPutVsRclone/4MiB", "ratio", "%.2fx", ">=", 1.5,
				func(g getter) string {
					return fmt.Sprintf("syncfs %s MB/s, rclone %s MB/s (process start dominates)", g("BenchmarkPutVsRclone/4MiB", "syncfs-MB/s"), g("BenchmarkPutVsRclone/4MiB", "rclone-MB/s"))
				}},
			{"Put 64 MiB", "BenchmarkPut/64MiB", "MB/s", "%.0f MB/s", "", 0, nil},
			{"Get 64 MiB", "BenchmarkGet/64MiB", "MB/s", "%.0f MB/s", "", 0, nil},
		},
	},
}

func main() {
	r := &results{vals: map[string]map[string][]float64{}, iters: map[string][]int{}, reps: map[string]map[string][]float64{}}
	repsDir := flag.String("reps", "", "directory of the benchmarks' NAME.reps.txt files (for the spread column)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: benchsummary [-reps DIR] RAW.txt [MORE.txt...]")
		os.Exit(2)
	}
	if *repsDir != "" {
		r.readReps(*repsDir)
	}
	for _, p := range flag.Args() {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsummary:", err)
			os.Exit(1)
		}
		err = r.parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsummary:", err)
			os.Exit(1)
		}
	}
	write(os.Stdout, r)
}

func write(w io.Writer, r *results) {
	g := fmtd(r)
	for _, s := range sections {
		measured := false
		for _, row := range s.rows {
			if _, ok := r.get(row.bench, row.unit); ok {
				measured = true
			}
		}
		if !measured && strings.HasPrefix(s.title, "Issue 2") {
			continue // make bench-remote was skipped
		}
		fmt.Fprintf(w, "### %s\n\n%s\n\n", s.title, s.note+" The details are medians of each figure of their own: their ratio need not be the median ratio.")
		fmt.Fprintln(w, "| Figure | Measured (median) | Target | Result | Reps | Spread (min–max) | Details |")
		fmt.Fprintln(w, "|---|---:|---|---|---:|---|---|")
		for _, row := range s.rows {
			v, ok := r.get(row.bench, row.unit)
			val, res, target := "not measured", "**MISS** (not measured)", "—"
			if row.cmp != "" {
				target = row.cmp + " " + fmt.Sprintf(row.format, row.target)
			} else {
				res = "info (not measured)"
			}
			if ok {
				val, res = fmt.Sprintf(row.format, v), row.result(v)
			}
			detail := ""
			if row.detail != nil && ok {
				detail = row.detail(g)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", row.label, val, target, res, r.repCount(row.bench), r.spread(row.bench, row.unit, row.format), detail)
		}
		fmt.Fprintln(w)
	}
}
