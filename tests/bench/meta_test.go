package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Metadata and fsync benchmarks (issue 14): many small files and
// transactional writers, with uploads on (a file:// remote beside the
// backing dir), against the same work done natively in a directory on the
// same file system, in the same run, in alternating order.

// goSourceTar makes (once per run) a tar of Go's own source tree, which
// every machine with Go has: about 11,500 small files in 1,600
// directories, 150 MB.
func goSourceTar(b *testing.B) (path string, files int) {
	b.Helper()
	src := filepath.Join(runtime.GOROOT(), "src")
	out := filepath.Join(b.TempDir(), "gosrc.tar")
	if o, err := exec.Command("tar", "-C", filepath.Dir(src), "-cf", out, "src").CombinedOutput(); err != nil {
		b.Fatalf("tar of %s: %v\n%s", src, err, o)
	}
	o, err := exec.Command("tar", "-tf", out).Output()
	if err != nil {
		b.Fatal(err)
	}
	return out, strings.Count(string(o), "\n")
}

// nativeAndMount makes a native directory and a mount with uploads on
// (file:// remote) beside it, on the same file system.
func nativeAndMount(b *testing.B) (string, *mount) {
	root := b.TempDir()
	native := filepath.Join(root, "native")
	if err := os.MkdirAll(native, 0o755); err != nil {
		b.Fatal(err)
	}
	m := newMount(b, root, "mount", "", nil)
	sameFS(b, native, m.backing)
	return native, m
}

// sides returns the two places a repetition works in, with their names:
// natively first in even repetitions, through the mount first in odd ones.
func sides(rep int, native, mnt string) [][2]string {
	s := [][2]string{{"native", native}, {"mount", mnt}}
	if rep%2 == 1 {
		slices.Reverse(s)
	}
	return s
}

func timed(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	t0 := time.Now()
	if o, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, o)
	}
	return time.Since(t0)
}

// BenchmarkUntar extracts the Go source tree with tar -x into the mount
// and into a native directory, then removes it with rm -rf, and reports
//
//	untar-x-mount/native   time of tar -x through the mount / natively  target <= 2
//	rm-x-mount/native      time of rm -rf through the mount / natively  target <= 2
//	flush-s                flush --wait after tar -x: until the remote holds the tree
//	cpu-s/10k-files        daemon CPU (user+sys) for tar -x, flush, rm -rf and flush, per 10,000 entries
//	peak-rss-MiB           daemon's largest VmRSS meanwhile               target < 100
func BenchmarkUntar(b *testing.B) {
	needRoot(b)
	tarball, entries := goSourceTar(b)
	native, m := nativeAndMount(b)
	s := series{}
	rep := 0
	for b.Loop() {
		b.StopTimer()
		t := map[string]time.Duration{}
		for _, side := range sides(rep, native, m.mnt) {
			c, dir := side[0], side[1]
			settle(b)
			var cpu0 float64
			var rss *rssSampler
			if c == "mount" {
				cpu0 = cpuSeconds(b, m.pid())
				rss = sampleRSS(m.pid)
			}
			t[c+"-untar"] = timed(b, "tar", "-C", dir, "-xf", tarball)
			if c == "mount" {
				s.add("flush-s", m.flush().Seconds())
			} else {
				unix.Sync()
			}
			t[c+"-rm"] = timed(b, "rm", "-rf", filepath.Join(dir, "src"))
			if c == "mount" {
				m.flush()
				s.add("cpu-s/10k-files", (cpuSeconds(b, m.pid())-cpu0)*10000/float64(entries))
				peak, _, _ := rss.Stop()
				s.add("peak-rss-MiB", peak)
			} else {
				unix.Sync()
			}
		}
		s.add("untar-x-mount/native", t["mount-untar"].Seconds()/t["native-untar"].Seconds())
		s.add("rm-x-mount/native", t["mount-rm"].Seconds()/t["native-rm"].Seconds())
		s.add("untar-native-s", t["native-untar"].Seconds())
		s.add("untar-mount-s", t["mount-untar"].Seconds())
		s.add("rm-native-s", t["native-rm"].Seconds())
		s.add("rm-mount-s", t["mount-rm"].Seconds())
		rep++
		b.StartTimer()
	}
	b.ReportMetric(float64(entries), "entries")
	s.report(b)
	s.logReps(b)
}

// BenchmarkSQLite runs 1000 single-row UPDATE transactions (Debian's
// sqlite3 CLI, autocommit: one transaction each, each with its fsyncs and,
// in rollback mode, a -journal file created and deleted) on a 64 MiB
// database, through the mount and natively, in rollback-journal and WAL
// mode:
//
//	rollback-x-mount/native   target <= 1.5
//	wal-x-mount/native        target <= 1.5
func BenchmarkSQLite(b *testing.B) {
	needRoot(b)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		b.Skip("sqlite3 not found (apt-get install sqlite3)")
	}
	native, m := nativeAndMount(b)
	const rows = 64 << 10 // of ~1 KiB: 64 MiB
	var create strings.Builder
	fmt.Fprintf(&create, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < %d) INSERT INTO t SELECT i, randomblob(1000) FROM c;\n", rows)
	var updates strings.Builder
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&updates, "UPDATE t SET v = randomblob(1000) WHERE id = %d;\n", 1+rng.IntN(rows))
	}
	sqlite := func(db, mode, script string) time.Duration {
		cmd := exec.Command("sqlite3", db)
		cmd.Stdin = strings.NewReader("PRAGMA journal_mode=" + mode + ";\n" + script)
		t0 := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sqlite3 %s: %v\n%s", db, err, o)
		}
		return time.Since(t0)
	}
	s := series{}
	rep := 0
	for b.Loop() {
		b.StopTimer()
		for _, mode := range []string{"delete", "wal"} {
			t := map[string]time.Duration{}
			for _, side := range sides(rep, native, m.mnt) {
				c, dir := side[0], side[1]
				db := filepath.Join(dir, "bench-"+mode+".db")
				if rep == 0 {
					sqlite(db, mode, create.String())
					if c == "mount" {
						m.flush()
					}
				}
				settle(b)
				t[c] = sqlite(db, mode, updates.String())
			}
			name := map[string]string{"delete": "rollback", "wal": "wal"}[mode]
			s.add(name+"-x-mount/native", t["mount"].Seconds()/t["native"].Seconds())
			s.add(name+"-native-ms/txn", t["native"].Seconds()*1000/1000)
			s.add(name+"-mount-ms/txn", t["mount"].Seconds()*1000/1000)
		}
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}

// BenchmarkFsyncLatency writes 4 KiB at a random offset of a 64 MiB file
// and fsyncs it, 2000 times, through the mount and natively, and reports
// the latency of each write+fsync:
//
//	mount-p50-us, mount-p99-us, native-p50-us, native-p99-us
//	p50-x-mount/native
func BenchmarkFsyncLatency(b *testing.B) {
	needRoot(b)
	native, m := nativeAndMount(b)
	const size, n = 64 << 20, 2000
	fill := randBuf(1 << 20)
	for _, dir := range []string{native, m.mnt} {
		writeSeq(b, filepath.Join(dir, "fsync"), size, fill)
	}
	m.flush()
	buf := randBuf(4096)
	s := series{}
	rep := 0
	for b.Loop() {
		b.StopTimer()
		for _, side := range sides(0, native, m.mnt) {
			c, dir := side[0], side[1]
			settle(b)
			f, err := os.OpenFile(filepath.Join(dir, "fsync"), os.O_RDWR, 0)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(rep), 7))
			lat := make([]float64, 0, n)
			for i := 0; i < n; i++ {
				off := int64(rng.IntN(size/4096)) * 4096
				t0 := time.Now()
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, float64(time.Since(t0).Microseconds()))
			}
			f.Close()
			slices.Sort(lat)
			s.add(c+"-p50-us", lat[n/2])
			s.add(c+"-p99-us", lat[n*99/100])
		}
		k := len(s["mount-p50-us"]) - 1
		s.add("p50-x-mount/native", s["mount-p50-us"][k]/s["native-p50-us"][k])
		s.add("p99-x-mount/native", s["mount-p99-us"][k]/s["native-p99-us"][k])
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}
