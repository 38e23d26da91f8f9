package s3_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/s3"
)

// Benchmarks against the local MinIO. Run them with
//
//	go test -run '^$' -bench . -benchtime 5x -count 3 ./remote/s3/
//
// BenchmarkPutVsRclone times `rclone copy` of the same file to the same
// server in the same run and reports syncfs's put throughput over rclone's
// (skipped when rclone is not installed, failed in CI).

var benchSizes = []int64{4 << 20, 64 << 20}

func sizeName(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }

// benchFile writes size random bytes (incompressible, like zstd output) to
// a file and returns it open; rclone reads the same file.
func benchFile(b *testing.B, size int64) *os.File {
	b.Helper()
	path := filepath.Join(b.TempDir(), sizeName(size)+".bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func benchStore(b *testing.B, opts func(*s3.Options)) (*miniotest.Server, string, *s3.Store) {
	srv := miniotest.Start(b)
	bucket := srv.NewBucket(b)
	o := srv.Options()
	if opts != nil {
		opts(&o)
	}
	return srv, bucket, srv.StoreWith(b, bucket, "bench", o)
}

func putFile(b *testing.B, s remote.Store, key string, f *os.File, size int64) {
	if err := s.Put(context.Background(), key, f, size, remote.PutOptions{}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			_, _, s := benchStore(b, nil)
			f := benchFile(b, size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				putFile(b, s, "obj", f, size)
			}
		})
	}
}

// BenchmarkPutVariants compares upload strategies on 64 MiB: signing the
// payload with SHA-256, a body that is not an io.ReaderAt (buffered parts),
// part sizes and concurrency.
func BenchmarkPutVariants(b *testing.B) {
	const size = 64 << 20
	for _, v := range []struct {
		name string
		opts func(*s3.Options)
		noRA bool
	}{
		{"default", nil, false},
		{"signed-sha256", func(o *s3.Options) { o.SignPayload = true }, false},
		{"buffered-parts", nil, true},
		{"single-put", func(o *s3.Options) { o.MultipartThreshold = size }, false},
		{"parts16MiB", func(o *s3.Options) { o.PartSize = 16 << 20 }, false},
		{"concurrency2", func(o *s3.Options) { o.Concurrency = 2 }, false},
		{"concurrency8", func(o *s3.Options) { o.Concurrency = 8 }, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			_, _, s := benchStore(b, v.opts)
			f := benchFile(b, size)
			var body io.ReadSeeker = f
			if v.noRA {
				body = struct{ io.ReadSeeker }{f}
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Put(context.Background(), "obj", body, size, remote.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			_, _, s := benchStore(b, nil)
			putFile(b, s, "obj", benchFile(b, size), size)
			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				rc, err := s.Get(context.Background(), "obj", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, rc, buf)
				rc.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}

// BenchmarkPutVsRclone alternates a syncfs put and an `rclone copy` of the
// same file to the same MinIO, and reports both throughputs and their
// ratio (syncfs/rclone; medians over the iterations). rclone runs with its
// defaults, as a user would, configured through environment variables; its
// time includes starting the process, as a user's would.
func BenchmarkPutVsRclone(b *testing.B) {
	rclone, err := exec.LookPath("rclone")
	testenv.Need(b, err == nil, "rclone", "not in PATH; install with: apt-get install rclone")
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			srv, bucket, s := benchStore(b, nil)
			f := benchFile(b, size)
			env := srv.RcloneEnv(b.TempDir())

			var ours, theirs []float64
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				putFile(b, s, fmt.Sprintf("syncfs/%d", i), f, size)
				ours = append(ours, mbps(size, time.Since(start)))

				cmd := exec.Command(rclone, "copy", "-q", f.Name(), fmt.Sprintf("minio:%s/rclone/%d/", bucket, i))
				cmd.Env = env
				start = time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("rclone copy: %v\n%s", err, out)
				}
				theirs = append(theirs, mbps(size, time.Since(start)))
			}
			o, r := median(ours), median(theirs)
			b.ReportMetric(o, "syncfs-MB/s")
			b.ReportMetric(r, "rclone-MB/s")
			b.ReportMetric(o/r, "ratio")
			b.ReportMetric(0, "ns/op") // the mixed loop time means nothing
			// Check that rclone stored what it was given.
			if oi, err := srv.Store(b, bucket, "").Stat(context.Background(), fmt.Sprintf("rclone/1/%s", filepath.Base(f.Name()))); err != nil || oi.Size != size {
				b.Fatalf("rclone's object: %+v, %v", oi, err)
			}
		})
	}
}

func mbps(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
