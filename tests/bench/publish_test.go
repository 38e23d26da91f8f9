package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
)

// BenchmarkPublish is syncfs publish (issue 17) against one local MinIO,
// with rclone copy of the same file as the peer. A 512 MiB result file is
// published, then 16 pages of 4 KiB at random offsets are rewritten (an
// index update) and it is published again; rclone copies the first
// version, then the modified one (a whole re-send: rclone has no partial
// upload). Reported, medians over the repetitions:
//
//	publish-first-s, rclone-first-s    first upload of the file
//	republish-s, rclone-again-s        after the rewrites
//	republish-sent-MB                  bytes publish sent for the rewrites (8 MiB parts)
//	rclone-again-sent-MB               bytes rclone sent (the file)
//	x-rclone-again/republish           time ratio: how much faster the republish is
func BenchmarkPublish(b *testing.B) {
	bin, _ := binaries(b)
	rclone, err := exec.LookPath("rclone")
	testenv.Need(b, err == nil, "rclone", "not in PATH; install with: apt-get install rclone")
	srv := miniotest.Start(b)
	bucket := srv.NewBucket(b)
	root := b.TempDir()
	rcloneEnv := srv.RcloneEnv(root)
	const size = 512 << 20
	s := series{}
	rep := 0
	for b.Loop() {
		dir := filepath.Join(root, fmt.Sprintf("rep%d", rep), "tree")
		os.MkdirAll(dir, 0o755)
		file := filepath.Join(dir, "job.odb")
		writeRandom(b, file, size, uint64(rep))
		url := miniotest.URL(bucket, fmt.Sprintf("pub-%d", rep))
		publish := func() (time.Duration, int64) {
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
		copyRclone := func() time.Duration {
			cmd := exec.Command(rclone, "copy", "-q", file, fmt.Sprintf("minio:%s/rclone-%d/", bucket, rep))
			cmd.Env = rcloneEnv
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("rclone copy: %v\n%s", err, out)
			}
			return time.Since(t0)
		}
		t1, _ := publish()
		r1 := copyRclone()
		f, err := os.OpenFile(file, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(rep), 7))
		page := make([]byte, 4096)
		for range 16 {
			for i := range page {
				page[i] = byte(rng.Uint32())
			}
			f.WriteAt(page, rng.Int64N(size/4096)*4096)
		}
		f.Close()
		t2, sent := publish()
		r2 := copyRclone()
		s.add("publish-first-s", t1.Seconds())
		s.add("rclone-first-s", r1.Seconds())
		s.add("republish-s", t2.Seconds())
		s.add("rclone-again-s", r2.Seconds())
		s.add("republish-sent-MB", float64(sent)/1e6)
		s.add("rclone-again-sent-MB", float64(size)/1e6)
		s.add("x-rclone-again/republish", ratio(r2, t2))
		rep++
	}
	s.report(b)
}

func writeRandom(b *testing.B, path string, size int64, seed uint64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 3))
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
