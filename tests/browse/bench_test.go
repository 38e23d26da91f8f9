package browse_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/internal/testenv"
)

// BenchmarkBrowse measures reading results back from one local MinIO, all
// in one run (run with -benchtime 3x or more; figures are medians over
// the iterations, and each ratio is the median of per-iteration ratios of
// two reads made one right after the other):
//
//   - cold: a sequential read of a 1 GiB file through a fresh read-only
//     mount (empty cache; as root, the page cache dropped so that MinIO
//     reads its disk) — against `syncfs get` of it, and against an
//     `rclone mount` (defaults) read of a plain copy uploaded with rclone,
//     each after the same drop;
//   - re-read: the same read again on the same mount — against a local
//     copy in the page cache;
//   - warm: the same read after a remount, from the disk cache — with
//     passthrough (the image the cold read built) and without (every byte
//     through the daemon, from the frame entries), against a local copy
//     in the page cache; and (as root) with the page cache dropped before
//     each, against a local copy read from disk;
//   - 4 KiB random reads per second: cold (fresh cache), warm with and
//     without passthrough, and on the local copy.
//
// The file is a finished job's (mtime an hour ago), so a whole read of it
// builds a passthrough image (docs/browse.md).
//
//	go test -run '^$' -bench Browse -benchtime 3x -timeout 60m ./tests/browse/
//
// SYNCFS_BENCH_SIZE sets the file size (default 1GiB) for quicker runs.
func BenchmarkBrowse(b *testing.B) {
	needFUSE(b)
	size := int64(1 << 30)
	if s := os.Getenv("SYNCFS_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	srv := miniotest.Start(b)
	bucket := srv.NewBucket(b)
	env := srv.Env()
	dir := b.TempDir()
	os.Chmod(dir, 0o755)
	local := filepath.Join(dir, "local.bin")
	writeContent(b, local, size)

	// The syncfs tree, written as the uploader writes files in one go.
	w := browsetest.New(b, srv.Store(b, bucket, "syncfs"))
	w.Now = func() time.Time { return time.Now().Add(-time.Hour) } // a finished job's results
	f, _ := os.Open(local)
	start := time.Now()
	w.WriteStream("results/big.bin", f, size, 0o644)
	f.Close()
	b.Logf("syncfs upload of %s: %v", humanSize(size), time.Since(start).Round(time.Millisecond))
	url := miniotest.URL(bucket, "syncfs")

	rcl := newRclone(b, srv, bucket)
	if rcl != nil {
		start = time.Now()
		rcl.run(b, "copyto", local, "minio:"+bucket+"/plain/big.bin")
		b.Logf("rclone upload: %v", time.Since(start).Round(time.Millisecond))
	}

	canDrop := dropCaches() == nil
	if !canDrop {
		b.Logf("cannot drop the page cache (not root?): the disk-bound figures are left out")
	}
	// Figures and ratios per iteration; each ratio compares two reads
	// made one right after the other, so that the load of a shared
	// machine weighs on both alike. Reported: medians.
	fig := map[string][]float64{}
	add := func(name string, v float64) { fig[name] = append(fig[name], v) }
	bigOn := func(mnt string) string { return filepath.Join(mnt, "results/big.bin") }
	localHot := func() float64 { // the local copy, from the page cache
		timeRead(b, local, size) // make sure it is there
		return mbps(size, timeRead(b, local, size))
	}
	i := 0
	for b.Loop() {
		i++
		cache := filepath.Join(dir, fmt.Sprintf("cache%d", i))
		mnt := filepath.Join(dir, fmt.Sprintf("mnt%d", i))
		os.Mkdir(mnt, 0o755)

		// Cold: a sequential read through a fresh mount (empty cache,
		// nothing in the page cache, MinIO reading its disk), which
		// builds the file's image; then syncfs get and an rclone mount
		// read, each after the same drop.
		settle()
		dropCaches()
		roMount(b, env, url, cache, mnt)
		cold := mbps(size, timeRead(b, bigOn(mnt), size))
		settle() // the image's writes reach the disk before timing more
		// Re-read on the same mount (passthrough from the image).
		reread := mbps(size, timeRead(b, bigOn(mnt), size))
		b.Logf("iteration %d, after the re-read: %s", i, roStats(b, cache, mnt))
		roUnmount(b, env, mnt)
		lh := localHot()
		add("cold-mount-MB/s", cold)
		add("reread-mount-MB/s", reread)
		add("reread/local-hot", reread/lh)

		got := filepath.Join(dir, fmt.Sprintf("got%d", i))
		dropCaches()
		start := time.Now()
		must(b, env, "get", url+"/results/big.bin", got)
		get := mbps(size, time.Since(start))
		os.RemoveAll(got)
		add("get-MB/s", get)
		add("cold/get", cold/get)
		if rcl != nil {
			rmnt := filepath.Join(dir, fmt.Sprintf("rclone%d", i))
			os.Mkdir(rmnt, 0o755)
			dropCaches()
			stop := rcl.mount(b, bucket, rmnt)
			r := mbps(size, timeRead(b, filepath.Join(rmnt, "plain/big.bin"), size))
			stop()
			add("rclone-mount-MB/s", r)
			add("cold/rclone", cold/r)
		}

		// Warm: a remount reads from the disk cache the cold read
		// filled: with passthrough (the image), and without (every byte
		// through the daemon, from the frame entries: the cold read made
		// none, so a second cold read without passthrough fills them).
		settle()
		roMount(b, env, url, cache, mnt)
		timeRead(b, bigOn(mnt), size) // the image into the page cache, as the local copy's is
		wh := mbps(size, timeRead(b, bigOn(mnt), size))
		add("rand4k-warm-reads/s", randomReads(b, bigOn(mnt), size, 20000))
		roUnmount(b, env, mnt)
		lh = localHot()
		add("warm-hot-MB/s", wh)
		add("local-hot-MB/s", lh)
		add("warm-hot/local-hot", wh/lh)

		entries := filepath.Join(dir, fmt.Sprintf("entries%d", i))
		roMount(b, env, url, entries, mnt, "--passthrough=false")
		timeRead(b, bigOn(mnt), size) // fills the frame entries
		roUnmount(b, env, mnt)
		settle()
		roMount(b, env, url, entries, mnt, "--passthrough=false")
		add("rand4k-warm-daemon-reads/s", randomReads(b, bigOn(mnt), size, 5000))
		wd := mbps(size, timeRead(b, bigOn(mnt), size))
		roUnmount(b, env, mnt)
		lh = localHot()
		add("warm-daemon-MB/s", wd)
		add("warm-daemon/local-hot", wd/lh)
		add("rand4k-local-reads/s", randomReads(b, local, size, 20000))

		// Warm from disk: the page cache dropped before each read.
		if canDrop {
			dropCaches()
			roMount(b, env, url, cache, mnt)
			wdisk := mbps(size, timeRead(b, bigOn(mnt), size))
			roUnmount(b, env, mnt)
			dropCaches()
			ldisk := mbps(size, timeRead(b, local, size))
			add("warm-disk-MB/s", wdisk)
			add("local-disk-MB/s", ldisk)
			add("warm-disk/local-disk", wdisk/ldisk)
		}

		// 4 KiB random reads through a fresh mount, cold cache.
		dropCaches()
		roMount(b, env, url, filepath.Join(dir, fmt.Sprintf("rcache%d", i)), mnt)
		add("rand4k-cold-reads/s", randomReads(b, bigOn(mnt), size, 300))
		roUnmount(b, env, mnt)

		for _, d := range []string{cache, entries, filepath.Join(dir, fmt.Sprintf("rcache%d", i))} {
			os.RemoveAll(d)
		}
	}
	names := make([]string, 0, len(fig))
	for name := range fig {
		names = append(names, name)
	}
	sort.Strings(names)
	// The whole table, on stdout (go test cuts long benchmark logs).
	fmt.Printf("BenchmarkBrowse figures (%s file, %d iterations; median, then each iteration):\n", humanSize(size), i)
	for _, name := range names {
		m := median(fig[name])
		b.ReportMetric(m, name)
		fmt.Printf("  %-28s %10.3g   %s\n", name, m, fmtAll(fig[name]))
	}
	b.ReportMetric(0, "ns/op") // the loop's time mixes everything
}

// settle waits for dirty pages (cache entries just written) to reach the
// disk, so that their writeback does not compete with a timed read.
func settle() {
	syscall.Sync()
	time.Sleep(200 * time.Millisecond)
}

// dropCaches empties the page cache (root only), so that a read comes
// from disk: MinIO's objects, the cache entries, the local copy.
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

// writeContent writes size bytes that compress about 2:1, like solver
// output: runs of repeated bytes between random ones.
func writeContent(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const chunk = 64 << 20
	for off, seed := int64(0), uint64(1); off < size; off, seed = off+chunk, seed+1 {
		if _, err := f.Write(browsetest.Pattern(seed, int(min(chunk, size-off)))); err != nil {
			b.Fatal(err)
		}
	}
}

func roMount(b *testing.B, env []string, url, cache, mnt string, args ...string) {
	b.Helper()
	unmountAtEnd(b, env, mnt)
	must(b, env, append(append([]string{"mount", "--read-only", "--remote", url, "--cache-dir", cache, "--cache-size", "8GiB"}, args...), mnt)...)
}

// roStats returns what the read-only daemon at mnt says about its
// passthrough opens and cache.
func roStats(b *testing.B, cache, mnt string) string {
	sum := sha256.Sum256([]byte(mnt))
	c := &control.Client{Dir: filepath.Join(cache, "run", hex.EncodeToString(sum[:8]))}
	var st struct {
		Mount struct {
			Reads       int64 `json:"reads"`
			Passthrough int64 `json:"passthrough_opens"`
		} `json:"mount"`
		Cache struct {
			Images int64 `json:"images"`
			Drops  int64 `json:"drops"`
		} `json:"cache"`
	}
	if err := c.Do(context.Background(), "GET", "/status", nil, &st); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d READs, %d passthrough opens, %d images, %d cache entries dropped", st.Mount.Reads, st.Mount.Passthrough, st.Cache.Images, st.Cache.Drops)
}

func roUnmount(b *testing.B, env []string, mnt string) {
	b.Helper()
	must(b, env, "unmount", mnt)
}

// timeRead reads path sequentially with 1 MiB reads, as cp does.
func timeRead(b *testing.B, path string, size int64) time.Duration {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
	d := time.Since(start)
	if err != nil || n != size {
		b.Fatalf("read %s: %d bytes, %v", path, n, err)
	}
	return d
}

// randomReads does n 4 KiB reads at random aligned offsets and returns
// reads per second.
func randomReads(b *testing.B, path string, size int64, n int) float64 {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(uint64(n), 11))
	buf := make([]byte, 4096)
	start := time.Now()
	for i := 0; i < n; i++ {
		off := r.Int64N(size/4096) * 4096
		if _, err := f.ReadAt(buf, off); err != nil {
			b.Fatalf("pread at %d: %v", off, err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// rclone runs rclone 1.60 against the MinIO, configured through the
// environment only.
type rcloneRunner struct {
	bin string
	env []string
}

func newRclone(b *testing.B, srv *miniotest.Server, bucket string) *rcloneRunner {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		testenv.Need(b, false, "rclone", "not in PATH; install with: apt-get install rclone")
		return nil
	}
	env := srv.RcloneEnv(b.TempDir())
	return &rcloneRunner{bin: bin, env: env}
}

func (r *rcloneRunner) run(b *testing.B, args ...string) {
	b.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("rclone %v: %v\n%s", args, err, out)
	}
}

// mount runs `rclone mount` (defaults, read-only) and returns when the
// mount is up; the function returned unmounts it.
func (r *rcloneRunner) mount(b *testing.B, bucket, mnt string) func() {
	b.Helper()
	cmd := exec.Command(r.bin, "mount", "--read-only", "minio:"+bucket, mnt)
	cmd.Env = r.env
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatalf("rclone mount: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if _, ok, _ := mountinfo.Find(mnt); ok {
			return stop
		}
		select {
		case err := <-exited:
			b.Fatalf("rclone mount exited: %v\n%s", err, out)
		case <-ctx.Done():
			stop()
			b.Fatalf("rclone mount not up after 20s:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mbps(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func fmtAll(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.3g", x))
	}
	return strings.Join(parts, " ")
}

func humanSize(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
