package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// mount is a syncfs mount made by the binary, over its own backing, state
// and (file://, unless given) remote directories under dir.
type mount struct {
	b                        testing.TB
	name                     string
	mnt, backing, state, rem string
	env                      []string
	args                     []string
	pidv                     int
}

// newMount mounts root/name/mnt with the extra mount arguments and
// unmounts it when the benchmark ends. remoteURL "" is a file:// remote
// under root/name.
func newMount(b testing.TB, root, name, remoteURL string, env []string, args ...string) *mount {
	b.Helper()
	dir := filepath.Join(root, name)
	m := &mount{b: b, name: name, mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "backing"),
		state: filepath.Join(dir, "state"), rem: remoteURL, env: env, args: args}
	for _, d := range []string{m.mnt, m.backing} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if m.rem == "" {
		r := filepath.Join(dir, "remote")
		if err := os.MkdirAll(r, 0o755); err != nil {
			b.Fatal(err)
		}
		m.rem = "file://" + r
	}
	m.start()
	b.Cleanup(m.cleanup)
	return m
}

// syncfs runs the syncfs binary with args and the mount's environment.
func (m *mount) syncfs(args ...string) (string, error) {
	bin, _ := binaries(m.b)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), m.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (m *mount) start() {
	m.b.Helper()
	args := append([]string{"mount", "--backing", m.backing, "--state", m.state, "--remote", m.rem}, m.args...)
	if out, err := m.syncfs(append(args, m.mnt)...); err != nil {
		m.b.Fatalf("syncfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m.pidv = m.readPid()
	if m.pidv == 0 {
		m.b.Fatalf("mount %s: no daemon pid in %s", m.mnt, m.state)
	}
}

// remount unmounts and mounts again with the same arguments: a new daemon
// that has seen no writable open of any file.
func (m *mount) remount() {
	m.b.Helper()
	m.unmount()
	m.start()
}

func (m *mount) unmount() {
	m.b.Helper()
	if out, err := m.syncfs("unmount", m.mnt); err != nil {
		m.b.Fatalf("unmount %s: %v\n%s\nlog:\n%s", m.mnt, err, out, m.log())
	}
	m.pidv = 0
}

// cleanup unmounts whatever is left, however it was left.
func (m *mount) cleanup() {
	if _, ok, _ := mountinfo.Find(m.mnt); !ok {
		return
	}
	if _, err := m.syncfs("unmount", m.mnt); err == nil {
		return
	}
	if pid := m.readPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	syscall.Unmount(m.mnt, syscall.MNT_DETACH)
}

func (m *mount) readPid() int {
	b, err := os.ReadFile(filepath.Join(m.state, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// pid is the daemon's pid.
func (m *mount) pid() int { return m.pidv }

func (m *mount) path(p string) string { return filepath.Join(m.mnt, p) }

func (m *mount) log() string {
	b, _ := os.ReadFile(filepath.Join(m.state, "syncfs.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// status is the part of `syncfs status --json` the benchmarks read.
type status struct {
	UploadedBytes int64 `json:"uploaded_bytes"` // file bytes shipped since the mount
	SentBytes     int64 `json:"sent_bytes"`     // bytes put, after compression, manifests included
	ReadBytes     int64 `json:"read_bytes"`     // bytes the uploader read from the backing dir
	WrittenBytes  int64 `json:"written_bytes"`  // bytes written through the mount
}

func (m *mount) status() status {
	m.b.Helper()
	out, err := m.syncfs("status", "--json", m.mnt)
	if err != nil {
		m.b.Fatalf("status: %v\n%s", err, out)
	}
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		m.b.Fatalf("status: %v\n%s", err, out)
	}
	return st
}

// flush runs `syncfs flush --wait` and returns its wall time (the
// command's start included, as a user would see it).
func (m *mount) flush() time.Duration {
	m.b.Helper()
	start := time.Now()
	out, err := m.syncfs("flush", "--wait", "--timeout", "10m", m.mnt)
	d := time.Since(start)
	if err != nil {
		m.b.Fatalf("flush: %v\n%s\nlog:\n%s", err, out, m.log())
	}
	return d
}

// --- process figures from /proc ---

// clkTck is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clkTck = 100

// cpuSeconds returns the user+system CPU time pid used so far, all its
// threads included.
func cpuSeconds(b testing.TB, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// pid (comm) state ppid ... : comm may hold spaces; fields restart
	// after the last ')'. utime and stime are fields 14 and 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parsing /proc/%d/stat: %q", pid, s)
	}
	return float64(utime+stime) / clkTck
}

// procKiB returns a "Key:  N kB" line of /proc/PID/status (VmRSS, VmHWM).
func procKiB(pid int, key string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

// rssSampler records the largest VmRSS and RssAnon (the part that is not
// mapped files, e.g. not the journal's mmap) of a process, sampled every
// 100 ms, until stopped.
type rssSampler struct {
	stop    chan struct{}
	done    sync.WaitGroup
	mu      sync.Mutex
	maxKiB  int64
	anonKiB int64
	samples int
}

func sampleRSS(pid func() int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if p := pid(); p > 0 {
				rss, err1 := procKiB(p, "VmRSS")
				anon, err2 := procKiB(p, "RssAnon")
				if err1 == nil && err2 == nil {
					s.mu.Lock()
					s.maxKiB, s.anonKiB = max(s.maxKiB, rss), max(s.anonKiB, anon)
					s.samples++
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the largest VmRSS and RssAnon seen,
// in MiB, and the number of samples.
func (s *rssSampler) Stop() (rssMiB, anonMiB float64, samples int) {
	close(s.stop)
	s.done.Wait()
	return float64(s.maxKiB) / 1024, float64(s.anonKiB) / 1024, s.samples
}

// settle lets the disk finish what earlier work left it (the backing file
// system is mounted with online discard: a deleted file's blocks are
// trimmed after the commit, which slows the writes that follow), then
// drops the page cache.
func settle(b testing.TB) {
	b.Helper()
	unix.Sync()
	time.Sleep(2 * time.Second)
	dropCaches(b)
}

// dropCaches writes dirty pages back and empties the page cache, dentries
// and inodes, so that the next read comes from the disk.
func dropCaches(b testing.TB) {
	b.Helper()
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		b.Fatalf("dropping the page cache: %v", err)
	}
	warmMemory()
}

// warmMemory touches and frees a few GiB of memory before a measurement.
// In a VM whose host provides guest memory lazily and takes freed memory
// back (free page reporting, DAMON page-out: the machine these figures
// come from), the first touch of a page costs a host fault: 0.6 to 2 GB/s
// measured here against over 100 GB/s for a touched page. A page-cache
// write is then timed by how much fresh memory it needs, and whichever
// of two runs comes after the other reuses the pages the first one freed.
// Touching the memory first gives every measurement the same start, as
// on a bare-metal node. SYNCFS_BENCH_WARM_GIB overrides the size (0: off).
func warmMemory() {
	freedMemory.hold()
	gib := 6
	if v, err := strconv.Atoi(os.Getenv("SYNCFS_BENCH_WARM_GIB")); err == nil {
		gib = v
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		gib = min(gib, int(uint64(si.Freeram)*uint64(si.Unit)/2>>30))
	}
	if gib <= 0 {
		return
	}
	m, err := unix.Mmap(-1, 0, gib<<30, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return
	}
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
	unix.Munmap(m)
}

// pageReportingOrder is the smallest free block, as a buddy order, that
// the kernel reports to the hypervisor (free page reporting, virtio
// balloon), which then takes the memory back. Here it reported freed
// memory within moments: some 50 GiB in a few minutes of benchmarking,
// undoing warmMemory, so that every measurement wrote into memory the
// host had to fault in again (a 4 GiB tmpfs write at 0.5-1.0 GB/s against
// 2.4 GB/s with reporting held off) and two runs of the same work
// differed by 2x.
const pageReportingOrder = "/sys/module/page_reporting/parameters/page_reporting_order"

// freedMemory holds free page reporting off for the benchmarks (only when
// one warms memory, so never in make test): an order above the buddy
// allocator's largest (10) matches no free block. TestMain restores it; a
// run killed meanwhile leaves it held, which costs the machine nothing
// but the memory the host does not get back (write the old value, 9 by
// default, to restore).
var freedMemory reportingHold

type reportingHold struct {
	once sync.Once
	old  []byte // the order to restore; nil if nothing was changed
}

func (h *reportingHold) hold() {
	h.once.Do(func() {
		old, err := os.ReadFile(pageReportingOrder)
		if err != nil {
			return // no free page reporting here
		}
		if err := os.WriteFile(pageReportingOrder, []byte("11"), 0); err != nil {
			fmt.Fprintf(os.Stderr, "bench: free page reporting stays on (%v): figures will be noisier\n", err)
			return
		}
		h.old = old
		fmt.Fprintf(os.Stderr, "bench: free page reporting held off for the run (page_reporting_order %s -> 11)\n", strings.TrimSpace(string(old)))
	})
}

func (h *reportingHold) restore() {
	if h.old != nil {
		os.WriteFile(pageReportingOrder, h.old, 0)
	}
}

// diskReadBytes returns the bytes read so far from the block device that
// holds dir (/sys/dev/block/MAJ:MIN/stat, field 3 in 512-byte sectors),
// or -1 when the device has no such counter.
func diskReadBytes(dir string) int64 {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return -1
	}
	raw, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/stat", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return -1
	}
	sectors, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return -1
	}
	return sectors * 512
}

// sameFS fails unless every dir is on the file system of the first: the
// native baseline and the backing dirs must share one.
func sameFS(b testing.TB, dirs ...string) {
	b.Helper()
	var dev uint64
	for i, d := range dirs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			dev = st.Dev
		} else if st.Dev != dev {
			b.Fatalf("%s and %s are on different file systems", dirs[0], d)
		}
	}
}

// --- I/O patterns ---

// randBuf returns n pseudo-random bytes (fixed seed).
func randBuf(n int) []byte {
	buf := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			buf[i+k] = byte(v >> (8 * k))
		}
	}
	return buf
}

// writeSeq creates path and writes size bytes to it with writes of
// len(buf), fsyncs and closes it; it returns the time from open to close.
func writeSeq(b testing.TB, path string, size int64, buf []byte) time.Duration {
	b.Helper()
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	for done := int64(0); done < size; {
		n, err := f.Write(buf[:min(int64(len(buf)), size-done)])
		if err != nil {
			b.Fatal(err)
		}
		done += int64(n)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// randOffsets returns n offsets at random multiples of block below size.
func randOffsets(seed uint64, n int, size, block int64) []int64 {
	r := rand.New(rand.NewPCG(seed, 7))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(size/block) * block
	}
	return offs
}

// writeAt opens an existing path, writes buf at each offset, fsyncs and
// closes it; it returns the time from open to close.
func writeAt(b testing.TB, path string, offs []int64, buf []byte) time.Duration {
	b.Helper()
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, off := range offs {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// readAll opens path read-only and reads it to the end with reads of
// len(buf); it returns the time from open to close.
func readAll(b testing.TB, path string, want int64, buf []byte) time.Duration {
	b.Helper()
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for {
		k, err := f.Read(buf) // not io.Copy: io.Discard would read 8 KiB at a time
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	d := time.Since(start)
	if n != want {
		b.Fatalf("read %d bytes of %s, want %d", n, path, want)
	}
	return d
}

// --- statistics ---

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// series collects one figure per repetition.
type series map[string][]float64

func (s series) add(k string, v float64) { s[k] = append(s[k], v) }

// report reports the median of every series under its name (the unit).
func (s series) report(b *testing.B) {
	for k, v := range s {
		b.ReportMetric(median(v), k)
	}
}

// logReps writes every repetition's figures to NAME.reps.txt in
// $SYNCFS_BENCH_OUT (scripts/bench.sh sets it to bench-results), or logs
// them (go test keeps only 10 lines of a benchmark's log).
func (s series) logReps(b *testing.B) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out strings.Builder
	fmt.Fprintf(&out, "# %s: one value per repetition, in order\n", b.Name())
	for _, k := range keys {
		fmt.Fprintf(&out, "%-32s %s\n", k, strings.Join(roundAll(s[k]), " "))
	}
	if dir := os.Getenv("SYNCFS_BENCH_OUT"); dir != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(b.Name()) + ".reps.txt"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(out.String()), 0o644); err == nil {
			b.Logf("per-repetition figures: %s", filepath.Join(dir, name))
			return
		}
	}
	b.Log("\n" + out.String())
}

func roundAll(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.FormatFloat(x, 'g', 4, 64)
	}
	return out
}
