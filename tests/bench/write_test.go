package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Write-path benchmarks (issue 6). Every mount here runs with
// --upload=false: the daemon journals but does not ship, so the uploader
// does not compete with the writer for the disk and the two cores.
//
// Each loop iteration is one repetition: the same work done once in every
// configuration, in an order that rotates from one repetition to the next,
// with the page cache dropped (after a sync) before each. The timer (so
// ns/op and MB/s) covers the journaled mount with the default options;
// the other configurations and the per-repetition ratios are reported as
// metrics, medians over the repetitions.

// config is one place to do the work: the native directory (m nil) or a
// mount.
type config struct {
	name string
	dir  string
	m    *mount
}

// rotate returns cfgs starting at rep's position.
func rotate(cfgs []config, rep int) []config {
	k := rep % len(cfgs)
	return append(append([]config(nil), cfgs[k:]...), cfgs[:k]...)
}

// writeConfigs makes the native directory and the mounts compared by the
// write benchmarks under root: "mount" (journal, writeback cache),
// "nojournal" (the same with --exclude '*': every name excluded, nothing
// journaled, nothing else different), "nowb" (journal, no writeback
// cache) and "direct" (--direct-writes).
func writeConfigs(b *testing.B, root string) []config {
	native := filepath.Join(root, "native")
	if err := os.MkdirAll(native, 0o755); err != nil {
		b.Fatal(err)
	}
	mnt := newMount(b, root, "mount", "", nil, "--upload=false")
	noj := newMount(b, root, "nojournal", "", nil, "--upload=false", "--exclude", "*")
	nowb := newMount(b, root, "nowb", "", nil, "--upload=false", "--writeback-cache=false")
	direct := newMount(b, root, "direct", "", nil, "--upload=false", "--direct-writes")
	sameFS(b, native, mnt.backing, noj.backing, nowb.backing, direct.backing)
	return []config{{"native", native, nil}, {"mount", mnt.mnt, mnt}, {"nojournal", noj.mnt, noj}, {"nowb", nowb.mnt, nowb}, {"direct", direct.mnt, direct}}
}

// ratio is how fast b ran relative to a: a's time over b's.
func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }

// cpuMetric names a daemon-CPU series and scales its CPU seconds.
type cpuMetric struct {
	name  string // e.g. "cpu-s/GB", after the configuration's name
	scale float64
}

// repetition does one repetition of run in every configuration, in an
// order rotated by rep, each after prep (if any) and a settle; b's timer
// covers the "mount" configuration only. It records each configuration's
// MB/s for bytes and its daemon's CPU, and returns the times.
func repetition(b *testing.B, s series, cfgs []config, rep int, bytes int64, cpu cpuMetric, prep func(config), run func(config) time.Duration) map[string]time.Duration {
	t := map[string]time.Duration{}
	for _, c := range rotate(cfgs, rep) {
		if prep != nil {
			prep(c)
		}
		settle(b)
		var cpu0 float64
		if c.m != nil {
			cpu0 = cpuSeconds(b, c.m.pid())
		}
		if c.name == "mount" {
			b.StartTimer()
		}
		t[c.name] = run(c)
		if c.name == "mount" {
			b.StopTimer()
		}
		if c.m != nil {
			s.add(c.name+"-"+cpu.name, (cpuSeconds(b, c.m.pid())-cpu0)*cpu.scale)
		}
		s.add(c.name+"-MB/s", mbps(bytes, t[c.name]))
	}
	return t
}

// BenchmarkSeqWrite writes a 2 GiB file with 1 MiB writes and fsyncs it,
// natively into a directory beside the backing dirs and through the
// mounts.
//
//	x-mount/native        mount (journal, writeback cache) vs native   target >= 0.75
//	x-nowb/native         the same without the writeback cache
//	x-direct/native       --direct-writes
//	x-journal/nojournal   mount vs the same mount with nothing journaled target >= 0.95
//	mount-cpu-s/GB        daemon CPU (user+sys) per 10^9 bytes written
func BenchmarkSeqWrite(b *testing.B) {
	seqWrite(b, 2<<30, 1<<20)
}

// BenchmarkSeqWrite64K is BenchmarkSeqWrite with 64 KiB writes of 1 GiB:
// what a writer of smaller blocks gets, where --direct-writes costs a
// round trip per write.
func BenchmarkSeqWrite64K(b *testing.B) {
	seqWrite(b, 1<<30, 64<<10)
}

func seqWrite(b *testing.B, size int64, block int) {
	needRoot(b)
	cfgs := writeConfigs(b, b.TempDir())
	buf := randBuf(block)
	s := series{}
	b.SetBytes(size)
	rep := 0
	for b.Loop() {
		b.StopTimer()
		t := repetition(b, s, cfgs, rep, size, cpuMetric{"cpu-s/GB", 1e9 / float64(size)},
			func(c config) {
				if err := os.Remove(filepath.Join(c.dir, "seq")); err != nil && !os.IsNotExist(err) {
					b.Fatal(err)
				}
			},
			func(c config) time.Duration { return writeSeq(b, filepath.Join(c.dir, "seq"), size, buf) })
		s.add("x-mount/native", ratio(t["native"], t["mount"]))
		s.add("x-nowb/native", ratio(t["native"], t["nowb"]))
		s.add("x-direct/native", ratio(t["native"], t["direct"]))
		s.add("x-journal/nojournal", ratio(t["nojournal"], t["mount"]))
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}

// BenchmarkRandWrite writes 4 KiB blocks at 65536 random 4 KiB-aligned
// offsets (with repeats: the same offsets in every configuration of a
// repetition) of an existing 256 MiB file and fsyncs it.
//
//	x-mount/native        target >= 0.5
func BenchmarkRandWrite(b *testing.B) {
	needRoot(b)
	const (
		size  = 256 << 20
		block = 4096
		n     = size / block
	)
	cfgs := writeConfigs(b, b.TempDir())
	fill := randBuf(1 << 20)
	for _, c := range cfgs {
		writeSeq(b, filepath.Join(c.dir, "rand"), size, fill)
	}
	buf := randBuf(block)
	s := series{}
	b.SetBytes(n * block)
	rep := 0
	for b.Loop() {
		b.StopTimer()
		offs := randOffsets(uint64(rep), n, size, block)
		t := repetition(b, s, cfgs, rep, n*block, cpuMetric{"cpu-us/write", 1e6 / n}, nil,
			func(c config) time.Duration { return writeAt(b, filepath.Join(c.dir, "rand"), offs, buf) })
		s.add("x-mount/native", ratio(t["native"], t["mount"]))
		s.add("x-nowb/native", ratio(t["native"], t["nowb"]))
		s.add("x-direct/native", ratio(t["native"], t["direct"]))
		s.add("x-journal/nojournal", ratio(t["nojournal"], t["mount"]))
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}

// BenchmarkColdRead reads a 2 GiB file opened read-only with 1 MiB reads
// from a cold page cache: natively, through a mount with the default
// options (passthrough asked for, writeback cache on), through one with
// --writeback-cache=false (passthrough asked for), through one with
// --direct-writes (which turns the writeback cache off) and through one
// with --passthrough=false.
//
// The kernel refuses passthrough on a connection that negotiated the
// writeback cache (fs/fuse/inode.c, process_init_reply: "don't allow the
// combination of FUSE_PASSTHROUGH and FUSE_WRITEBACK_CACHE"; the daemon's
// FUSE_DEV_IOC_BACKING_OPEN then fails with EPERM), so with the default
// options every read goes through the daemon. The daemon's CPU time
// during the read shows which path served it: with passthrough the daemon
// sees only the open and the close.
//
// A read-only open gets passthrough only when the inode had no writable
// open in the last 2 s, which the daemon tracks in memory. The files are
// written through the mounts and the mounts then unmounted and mounted
// again: the new daemons have seen no writable open.
//
//	x-mount/native          default options              target >= 0.95
//	x-nowb/native           --writeback-cache=false (passthrough in effect)
//	x-direct/native         --direct-writes (passthrough in effect)
//	x-nopassthrough/native  --passthrough=false
func BenchmarkColdRead(b *testing.B) {
	needRoot(b)
	const size = 2 << 30
	root := b.TempDir()
	native := filepath.Join(root, "native")
	if err := os.MkdirAll(native, 0o755); err != nil {
		b.Fatal(err)
	}
	mnt := newMount(b, root, "mount", "", nil, "--upload=false")
	nowb := newMount(b, root, "nowb", "", nil, "--upload=false", "--writeback-cache=false")
	direct := newMount(b, root, "direct", "", nil, "--upload=false", "--direct-writes")
	nopt := newMount(b, root, "nopassthrough", "", nil, "--upload=false", "--passthrough=false")
	sameFS(b, native, mnt.backing, nowb.backing, direct.backing, nopt.backing)
	cfgs := []config{{"native", native, nil}, {"mount", mnt.mnt, mnt}, {"nowb", nowb.mnt, nowb}, {"direct", direct.mnt, direct}, {"nopassthrough", nopt.mnt, nopt}}
	fill := randBuf(1 << 20)
	for _, c := range cfgs {
		writeSeq(b, filepath.Join(c.dir, "cold"), size, fill)
	}
	for _, c := range cfgs[1:] {
		c.m.remount()
	}

	buf := make([]byte, 1<<20)
	s := series{}
	b.SetBytes(size)
	rep := 0
	for b.Loop() {
		b.StopTimer()
		t := repetition(b, s, cfgs, rep, size, cpuMetric{"daemon-cpu-s", 1}, nil,
			func(c config) time.Duration { return readAll(b, filepath.Join(c.dir, "cold"), size, buf) })
		s.add("x-mount/native", ratio(t["native"], t["mount"]))
		s.add("x-nowb/native", ratio(t["native"], t["nowb"]))
		s.add("x-direct/native", ratio(t["native"], t["direct"]))
		s.add("x-nopassthrough/native", ratio(t["native"], t["nopassthrough"]))
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}

// BenchmarkWriteRSS writes 4 GiB with 1 MiB writes through one mount
// (journal, writeback cache, --upload=false) per repetition, fsyncs, and
// samples the daemon's VmRSS every 100 ms meanwhile.
//
//	max-rss-MiB    the largest sample over all repetitions   target < 100
//	hwm-MiB        the daemon's VmHWM (peak RSS since it started) at the end
//	cpu-s/GB       daemon CPU per 10^9 bytes written
func BenchmarkWriteRSS(b *testing.B) {
	needRoot(b)
	const size = 4 << 30
	m := newMount(b, b.TempDir(), "rss", "", nil, "--upload=false")
	p := m.path("big")
	buf := randBuf(1 << 20)
	s := series{}
	b.SetBytes(size)
	var maxMiB, maxAnon float64
	var samples int
	for b.Loop() {
		b.StopTimer()
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		settle(b)
		rss := sampleRSS(m.pid)
		cpu0 := cpuSeconds(b, m.pid())
		b.StartTimer()
		d := writeSeq(b, p, size, buf)
		b.StopTimer()
		s.add("cpu-s/GB", (cpuSeconds(b, m.pid())-cpu0)/(size/1e9))
		s.add("MB/s-rep", mbps(size, d))
		mib, anon, n := rss.Stop()
		maxMiB, maxAnon, samples = max(maxMiB, mib), max(maxAnon, anon), samples+n
		b.StartTimer()
	}
	hwm, err := procKiB(m.pid(), "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(maxMiB, "max-rss-MiB")
	b.ReportMetric(maxAnon, "max-rss-anon-MiB")
	b.ReportMetric(float64(hwm)/1024, "hwm-MiB")
	b.ReportMetric(float64(samples), "rss-samples")
	s.report(b)
	s.logReps(b)
}
