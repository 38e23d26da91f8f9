package browse_test

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
)

type remoteKind struct {
	name string
	url  func(t *testing.T) (string, []string) // URL and environment
}

var remoteKinds = []remoteKind{
	{"file", func(t *testing.T) (string, []string) {
		d := filepath.Join(t.TempDir(), "remote")
		os.MkdirAll(d, 0o755)
		return "file://" + d, nil
	}},
	{"s3", func(t *testing.T) (string, []string) {
		srv := miniotest.Start(t)
		return miniotest.URL(srv.NewBucket(t), "jobs/1"), srv.Env()
	}},
}

// TestWriteThenBrowse writes results through a writable mount (files
// written in one go, rewritten in place across many shipped versions,
// sparse, in subdirectories, a symlink), flushes, and reads them back
// through the read-only mount, ls, cat and get: every byte, mode and
// mtime matches. A rewrite shipped while the read-only mount is up shows
// within its refresh period.
func TestWriteThenBrowse(t *testing.T) {
	needFUSE(t)
	for _, rk := range remoteKinds {
		t.Run(rk.name, func(t *testing.T) {
			url, env := rk.url(t)
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			wmnt, backing, state := filepath.Join(dir, "w"), filepath.Join(dir, "backing"), filepath.Join(dir, "state")
			rmnt, cacheDir := filepath.Join(dir, "r"), filepath.Join(dir, "cache")
			for _, d := range []string{wmnt, backing, rmnt} {
				os.MkdirAll(d, 0o755)
			}
			unmountAtEnd(t, env, wmnt)
			must(t, env, "mount", "--backing", backing, "--state", state, "--remote", url, wmnt)
			flush := func() { must(t, env, "flush", "--wait", "--timeout", "2m", wmnt) }

			r := rand.New(rand.NewPCG(1, 2))
			random := func(n int) []byte {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(r.Uint32() >> 24 & 0x3f) // compressible, not trivially
				}
				return b
			}
			write := func(p string, b []byte, mode os.FileMode) {
				os.MkdirAll(filepath.Dir(filepath.Join(wmnt, p)), 0o755)
				if err := os.WriteFile(filepath.Join(wmnt, p), b, mode); err != nil {
					t.Fatal(err)
				}
			}
			write("one.bin", random(5<<20+123), 0o644)
			write("results/sub/small.txt", []byte("converged\n"), 0o600)
			write("results/job.odb", random(3<<20), 0o640)
			flush()
			f, err := os.OpenFile(filepath.Join(wmnt, "results/job.odb"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 12; i++ { // an ABAQUS-like solver updating what it wrote
				for k := 0; k < 3; k++ {
					f.WriteAt(random(r.IntN(100000)+1), r.Int64N(3<<20))
				}
				f.Sync()
				if i%3 == 0 {
					flush()
				}
			}
			f.Close()
			sp, _ := os.Create(filepath.Join(wmnt, "sparse.dat"))
			sp.Truncate(70 << 20)
			sp.WriteAt(random(100000), 66<<20)
			sp.Close()
			os.Symlink("results/job.odb", filepath.Join(wmnt, "latest"))
			flush()

			unmountAtEnd(t, env, rmnt)
			must(t, env, "mount", "--read-only", "--remote", url, "--cache-dir", cacheDir, "--refresh", "300ms", rmnt)
			files := []string{"one.bin", "results/sub/small.txt", "results/job.odb", "sparse.dat"}
			same := func(p, root string) {
				t.Helper()
				want, err := os.ReadFile(filepath.Join(backing, p))
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(root, p))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if sha256.Sum256(got) != sha256.Sum256(want) {
					t.Fatalf("%s under %s: %d bytes, differ from the %d written", p, root, len(got), len(want))
				}
				ws, _ := os.Lstat(filepath.Join(backing, p))
				gs, _ := os.Lstat(filepath.Join(root, p))
				if ws.Mode() != gs.Mode() || !ws.ModTime().Equal(gs.ModTime()) {
					t.Errorf("%s under %s: %v %v, written %v %v", p, root, gs.Mode(), gs.ModTime(), ws.Mode(), ws.ModTime())
				}
			}
			for _, p := range files {
				same(p, rmnt)
			}
			if target, err := os.Readlink(filepath.Join(rmnt, "latest")); err != nil || target != "results/job.odb" {
				t.Errorf("symlink: %q, %v", target, err)
			}

			// ls, cat, get of the same remote.
			ls := must(t, env, "ls", "-R", url).Stdout
			for _, p := range append(files, "latest -> results/job.odb") {
				if !strings.Contains(ls, " "+p+"\n") {
					t.Errorf("ls -R lacks %s:\n%s", p, ls)
				}
			}
			cat := must(t, env, "cat", "--offset", "1000", "--length", "50000", url+"/results/job.odb").Stdout
			want, _ := os.ReadFile(filepath.Join(backing, "results/job.odb"))
			if !bytes.Equal([]byte(cat), want[1000:51000]) {
				t.Errorf("cat of a range differs")
			}
			got := filepath.Join(dir, "got")
			must(t, env, "get", url, got)
			for _, p := range files {
				same(p, got)
			}

			// Live: a rewrite shipped now shows within the refresh period.
			held, _ := os.Open(filepath.Join(rmnt, "results/sub/small.txt"))
			defer held.Close()
			write("results/sub/small.txt", []byte("diverged!\n"), 0o600)
			flush()
			deadline := time.Now().Add(5 * time.Second)
			for {
				b, _ := os.ReadFile(filepath.Join(rmnt, "results/sub/small.txt"))
				h := make([]byte, 10)
				held.ReadAt(h, 0)
				if string(b) == "diverged!\n" && string(h) == "diverged!\n" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("new version not seen: %q, held fd %q", b, h)
				}
				time.Sleep(100 * time.Millisecond)
			}

			// status finds the read-only daemon through the mount's source.
			st := must(t, env, "status", "--json", rmnt).Stdout
			if !strings.Contains(st, `"state": "`+cacheDir+"/run/") {
				t.Errorf("status: %s", st)
			}
			if err := os.WriteFile(filepath.Join(rmnt, "x"), nil, 0o644); !errorsIsEROFS(err) {
				t.Errorf("write into the read-only mount: %v", err)
			}
			held.Close()
			must(t, env, "unmount", rmnt)
			must(t, env, "unmount", wmnt)
		})
	}
}

func errorsIsEROFS(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.EROFS
}
