package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
)

// BenchmarkPublish is syncfs publish (issue 17) against one local MinIO,
// with rclone copy of the same file as the peer. The ABAQUS-like job of
// BenchmarkUpload (fakesolver, a 1 GiB result file) writes into a plain
// directory; it is published, and copied with rclone; then the same
// change as BenchmarkUpload's (1 % rewritten in 64 KiB blocks at random
// offsets, a new header, 5 % appended) and both again (rclone re-sends the
// whole file: it has no partial upload); then 16 scattered 4 KiB page
// rewrites (an index update) and both again. Medians:
//
//	x-publish/rclone-first-MB/s        first upload throughput ratio    target >= 1.5
//	x-sent/rclone-change               bytes sent for the 1 % change    target <= 0.2
//	x-sent-file/rclone-change          the same, published to a file:// remote (1 MiB parts)
//	x-sent/rclone-pages                bytes sent for 16 page rewrites
//	republish-change-s, rclone-change-s, republish-pages-s, rclone-pages-s
func BenchmarkPublish(b *testing.B) {
	bin, solver := binaries(b)
	rclone, err := exec.LookPath("rclone")
	testenv.Need(b, err == nil, "rclone", "not in PATH; install with: apt-get install rclone")
	srv := miniotest.Start(b)
	bucket := srv.NewBucket(b)
	root := b.TempDir()
	rcloneEnv := srv.RcloneEnv(root)
	s := series{}
	rep := 0
	for b.Loop() {
		dir := filepath.Join(root, fmt.Sprintf("rep%d", rep), "tree")
		os.MkdirAll(dir, 0o755)
		runSolver(b, solver, dir, rep)
		file := filepath.Join(dir, "job.odb")
		st, err := os.Stat(file)
		if err != nil {
			b.Fatal(err)
		}
		url := miniotest.URL(bucket, fmt.Sprintf("pub-%d", rep))
		fileURL := "file://" + filepath.Join(root, fmt.Sprintf("rep%d", rep), "remote")
		os.MkdirAll(strings.TrimPrefix(fileURL, "file://"), 0o755)
		publishTo := func(url string) (time.Duration, int64) {
			cmd := exec.Command(bin, "publish", "--json", "--remote", url, dir)
			cmd.Env = append(os.Environ(), srv.Env()...)
			t0 := time.Now()
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("syncfs publish: %v\n%s", err, out)
			}
			var r struct {
				BytesSent int64 `json:"bytes_sent"`
			}
			json.Unmarshal(out, &r)
			return time.Since(t0), r.BytesSent
		}
		publish := func() (time.Duration, int64) { return publishTo(url) }
		copyRclone := func() (time.Duration, int64) {
			fi, err := os.Stat(file)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(rclone, "copy", "-q", file, fmt.Sprintf("minio:%s/rclone-%d/", bucket, rep))
			cmd.Env = rcloneEnv
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("rclone copy: %v\n%s", err, out)
			}
			return time.Since(t0), fi.Size()
		}
		dropCaches(b)
		t1, _ := publish()
		dropCaches(b)
		r1, _ := copyRclone()
		s.add("publish-first-MB/s", mbps(st.Size(), t1))
		s.add("rclone-first-MB/s", mbps(st.Size(), r1))
		s.add("x-publish/rclone-first-MB/s", ratio(r1, t1))

		publishTo(fileURL)

		change(b, file, st.Size(), uint64(rep))
		_, sentFile := publishTo(fileURL)
		t2, sent2 := publish()
		r2, rsent2 := copyRclone()
		s.add("republish-change-s", t2.Seconds())
		s.add("rclone-change-s", r2.Seconds())
		s.add("x-sent/rclone-change", float64(sent2)/float64(rsent2))
		s.add("x-sent-file/rclone-change", float64(sentFile)/float64(rsent2))

		f, err := os.OpenFile(file, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := f.Stat()
		rng := rand.New(rand.NewPCG(uint64(rep), 7))
		page := make([]byte, 4096)
		for range 16 {
			for i := range page {
				page[i] = byte(rng.Uint32())
			}
			f.WriteAt(page, rng.Int64N(fi.Size()/4096)*4096)
		}
		f.Close()
		t3, sent3 := publish()
		r3, rsent3 := copyRclone()
		s.add("republish-pages-s", t3.Seconds())
		s.add("rclone-pages-s", r3.Seconds())
		s.add("x-sent/rclone-pages", float64(sent3)/float64(rsent3))
		rep++
	}
	s.report(b)
}
