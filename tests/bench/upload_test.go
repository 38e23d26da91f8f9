package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/remote"
)

// BenchmarkUpload is the uploader against one local MinIO (issue 7), with
// a mount in its default configuration (uploads on). Each repetition uses
// a fresh mount, backing dir and remote prefix:
//
//  1. fakesolver writes a 1 GiB result file of float32 fields (1 MiB
//     writes, header and index rewritten after each of 8 steps) through
//     the mount; `syncfs flush --wait` ships it. The timer (ns/op, MB/s)
//     covers that flush alone; first-write+flush-MB/s counts from the
//     start of the write to the end of the flush. The same job also
//     writes the same file into a plain directory beside the backing dir,
//     and `rclone copy` copies that to the same MinIO: rclone's upload
//     against the flush, and the native write plus rclone against the
//     write through the mount plus the flush.
//  2. The change: 1 % of the file rewritten in 64 KiB blocks at random
//     64 KiB-aligned offsets, a new 4 KiB header at offset 0, 5 % appended,
//     through the mount; the file closed, then a second `flush --wait`.
//     Bytes read and sent are deltas of `syncfs status --json` around it.
//     `rclone copy` of the modified file to the destination that holds
//     the first version, and rsync --no-whole-file --inplace to a local
//     copy of the first version, do the same change their way.
//
// The daemon's VmRSS is sampled every 100 ms from the mount to the
// unmount.
func BenchmarkUpload(b *testing.B) {
	needRoot(b)
	_, solver := binaries(b)
	rclone, err := exec.LookPath("rclone")
	testenv.Need(b, err == nil, "rclone", "not in PATH; install with: apt-get install rclone")
	rsync, err := exec.LookPath("rsync")
	testenv.Need(b, err == nil, "rsync", "not in PATH; install with: apt-get install rsync")
	srv := miniotest.Start(b)
	bucket := srv.NewBucket(b)
	objects := srv.Store(b, bucket, "")
	root := b.TempDir()
	rcloneEnv := srv.RcloneEnv(root)
	runRclone := func(src, dst string) time.Duration {
		cmd := exec.Command(rclone, "copy", "-q", src, dst)
		cmd.Env = rcloneEnv
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("rclone copy: %v\n%s", err, out)
		}
		return time.Since(start)
	}

	const size = 1 << 30
	s := series{}
	var maxRSS, maxAnon, maxHWM float64
	b.SetBytes(size)
	rep := 0
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(root, fmt.Sprintf("rep%d", rep))
		m := newMount(b, dir, "syncfs", miniotest.URL(bucket, fmt.Sprintf("syncfs-%d", rep)), srv.Env())
		rss := sampleRSS(m.pid)
		file := filepath.Join(m.backing, "job.odb")

		// 1. First upload: the job writes through the mount, then flushes;
		// against the same job writing natively, then rclone copy.
		native := filepath.Join(dir, "native")
		dropCaches(b)
		tn := runSolver(b, solver, native, rep)
		dropCaches(b)
		t0 := time.Now()
		tw := runSolver(b, solver, m.mnt, rep)
		stW := m.status()
		cpu0 := cpuSeconds(b, m.pid())
		b.StartTimer()
		flush1 := m.flush()
		b.StopTimer()
		twf := time.Since(t0)
		st1 := m.status()
		s.add("first-flush-cpu-s", cpuSeconds(b, m.pid())-cpu0)
		s.add("first-write-s", tw.Seconds())
		s.add("first-flush-s", flush1.Seconds())
		s.add("first-flush-MB/s", mbps(size, flush1))
		s.add("first-write+flush-MB/s", mbps(size, twf))
		s.add("first-shipped-during-write-MB", float64(stW.UploadedBytes)/1e6)
		s.add("first-sent/size", float64(st1.SentBytes)/size)
		dst := fmt.Sprintf("minio:%s/rclone-%d/", bucket, rep)
		rcl1 := runRclone(filepath.Join(native, "job.odb"), dst)
		s.add("rclone-first-MB/s", mbps(size, rcl1))
		s.add("native-write-s", tn.Seconds())
		s.add("native-write+rclone-MB/s", mbps(size, tn+rcl1))
		s.add("x-first-flush/rclone", ratio(rcl1, flush1))
		s.add("x-first-write+flush/native-write+rclone", ratio(tn+rcl1, twf))

		// A local copy of the shipped version, for rsync.
		rsyncDst := filepath.Join(dir, "rsync", "job.odb")
		copyFile(b, file, rsyncDst)

		// 2. The change, and the second flush.
		modified := change(b, m.path("job.odb"), size, uint64(rep))
		cpu0 = cpuSeconds(b, m.pid())
		flush2 := m.flush()
		st2 := m.status()
		s.add("change-flush-cpu-s", cpuSeconds(b, m.pid())-cpu0)
		s.add("modified-MB", float64(modified)/1e6)
		s.add("read/modified", float64(st2.ReadBytes-st1.ReadBytes)/float64(modified))
		s.add("sent/modified", float64(st2.SentBytes-st1.SentBytes)/float64(modified))
		s.add("uploaded/modified", float64(st2.UploadedBytes-st1.UploadedBytes)/float64(modified))
		s.add("change-flush-s", flush2.Seconds())

		fi, err := os.Stat(file)
		if err != nil {
			b.Fatal(err)
		}
		rcl2 := runRclone(file, dst)
		s.add("rclone-change-s", rcl2.Seconds())
		s.add("x-rclone/flush-change", ratio(rcl2, flush2))
		s.add("rclone-sent/modified", float64(fi.Size())/float64(modified)) // a whole-file upload

		dropCaches(b)
		disk0 := diskReadBytes(dir)
		start := time.Now()
		out, err := exec.Command(rsync, "--no-whole-file", "--inplace", "--stats", file, rsyncDst).CombinedOutput()
		if err != nil {
			b.Fatalf("rsync: %v\n%s", err, out)
		}
		s.add("rsync-s", time.Since(start).Seconds())
		if disk0 >= 0 {
			s.add("rsync-disk-read/modified", float64(diskReadBytes(dir)-disk0)/float64(modified))
		}
		s.add("rsync-literal/modified", float64(rsyncStat(b, out, "Literal data"))/float64(modified))
		s.add("rsync-sent/modified", float64(rsyncStat(b, out, "Total bytes sent"))/float64(modified))

		if kib, err := procKiB(m.pid(), "VmHWM"); err == nil {
			maxHWM = max(maxHWM, float64(kib)/1024)
		}
		m.unmount()
		mib, anon, _ := rss.Stop()
		maxRSS, maxAnon = max(maxRSS, mib), max(maxAnon, anon)
		// About 5 GiB per repetition on the one disk: free it.
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		emptyPrefixes(b, objects, fmt.Sprintf("syncfs-%d/", rep), fmt.Sprintf("rclone-%d/", rep))
		rep++
		b.StartTimer()
	}
	b.ReportMetric(maxRSS, "max-rss-MiB")
	b.ReportMetric(maxAnon, "max-rss-anon-MiB")
	b.ReportMetric(maxHWM, "hwm-MiB")
	s.report(b)
	s.logReps(b)
}

// emptyPrefixes deletes every object under the prefixes.
func emptyPrefixes(b testing.TB, s remote.Store, prefixes ...string) {
	b.Helper()
	ctx := context.Background()
	for _, p := range prefixes {
		var keys []string
		if err := s.List(ctx, p, func(oi remote.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			if err := s.Delete(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// runSolver runs fakesolver writing a 1 GiB result file into dir (the same
// file for the same rep) and returns how long it took.
func runSolver(b testing.TB, solver, dir string, rep int) time.Duration {
	b.Helper()
	start := time.Now()
	if out, err := exec.Command(solver, "-dir", dir, "-size", "1GiB", "-steps", "8", "-seed", strconv.Itoa(rep+1)).CombinedOutput(); err != nil {
		b.Fatalf("fakesolver: %v\n%s", err, out)
	}
	return time.Since(start)
}

// change rewrites 1 % of the file at path (size bytes) in 64 KiB blocks at
// distinct random 64 KiB-aligned offsets (block 0 excluded: it holds the
// header), writes a new 4 KiB header at offset 0 and appends 5 % of size,
// all with new solver-like data, and closes the file. It returns the bytes
// modified (the ranges do not overlap).
func change(b testing.TB, path string, size int64, seed uint64) int64 {
	b.Helper()
	const blk = 64 << 10
	r := rand.New(rand.NewPCG(seed, 11))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	nblk := int((size/100 + blk - 1) / blk)
	idx := r.Perm(int(size/blk) - 1)[:nblk]
	buf := make([]byte, 1<<20)
	for _, i := range idx {
		off := int64(i+1) * blk
		solverData(buf[:blk], off, r)
		if _, err := f.WriteAt(buf[:blk], off); err != nil {
			b.Fatal(err)
		}
	}
	hdr := make([]byte, 4096)
	copy(hdr, fmt.Sprintf("FAKEODB v1 restart written %s", time.Now().UTC().Format(time.RFC3339Nano)))
	solverData(hdr[256:], 256, r)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		b.Fatal(err)
	}
	appended := size / 20
	for done := int64(0); done < appended; {
		n := min(int64(len(buf)), appended-done)
		solverData(buf[:n], size+done, r)
		if _, err := f.WriteAt(buf[:n], size+done); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return int64(nblk)*blk + int64(len(hdr)) + appended
}

// solverData fills buf with float32 fields that vary slowly across a mesh
// plus a little noise, as cmd/fakesolver writes them.
func solverData(buf []byte, off int64, r *rand.Rand) {
	phase := r.Float64() * math.Pi
	for i := 0; i+4 <= len(buf); i += 4 {
		x := float64(off+int64(i)) / 4096
		v := float32(math.Sin(x*0.01+phase)*100 + 7 + r.NormFloat64()*0.01)
		binary.LittleEndian.PutUint32(buf[i:], math.Float32bits(v))
	}
}

func copyFile(b testing.TB, src, dst string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		b.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// rsyncStat returns a "Name: 1,234 bytes" figure of rsync --stats.
func rsyncStat(b testing.TB, out []byte, name string) int64 {
	b.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: ([0-9,.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in rsync --stats:\n%s", name, out)
	}
	n, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(string(m[1])), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
