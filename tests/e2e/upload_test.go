package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
)

// remoteKinds runs fn against a file:// remote and a real MinIO.
func remoteKinds(t *testing.T, fn func(t *testing.T, remoteURL string, env []string)) {
	t.Run("file", func(t *testing.T) { fn(t, "", nil) })
	t.Run("minio", func(t *testing.T) {
		srv := miniotest.Start(t)
		bucket := srv.NewBucket(t)
		fn(t, miniotest.URL(bucket, "jobs/42"), srv.Env())
	})
}

func status(t *testing.T, m *mount) map[string]any {
	t.Helper()
	r := syncfs(t, m.env, "status", "--json", m.mnt)
	if r.Code != 0 {
		t.Fatal(r)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func verifyOK(t *testing.T, m *mount, dir string, args ...string) {
	t.Helper()
	r := syncfs(t, m.env, append(append([]string{"verify", "--remote", m.remote}, args...), dir)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "byte for byte") {
		t.Fatalf("verify: %v\ndaemon log:\n%s", r, m.log())
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeAt(t *testing.T, p string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestUploadEndToEnd writes through a real mount (write, rewrite of
// flushed regions, append, truncate, rename over, unlink, directories,
// symlinks), flushes, and checks with verify that the remote holds the
// local bytes, to file:// and to MinIO.
func TestUploadEndToEnd(t *testing.T) {
	remoteKinds(t, func(t *testing.T, remoteURL string, env []string) {
		m := newMount(t, remoteURL, env, "--exclude", "*.tmp")
		os.MkdirAll(m.path("results/fields"), 0o755)
		out := m.path("results/run.odb")
		if r := runSolver(t, filepath.Dir(out), "run", "24MiB", 6); r != nil {
			t.Fatal(r)
		}
		writeAt(t, m.path("results/fields/a.bin"), 0, randBytes(5<<20+3))
		os.WriteFile(m.path("scratch.tmp"), []byte("never shipped"), 0o644)
		m.flush()
		verifyOK(t, m, m.mnt, "--exclude", "*.tmp")

		// Rewrite regions flushed long ago, append, truncate.
		writeAt(t, out, 0, []byte("HEADER REWRITTEN"))
		writeAt(t, out, 9<<20+17, randBytes(3000))
		f, _ := os.OpenFile(m.path("results/run.sta"), os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString(" STEP 7 DONE\n")
		f.Close()
		os.Truncate(m.path("results/fields/a.bin"), 1<<20+5)
		// Rename over, unlink, symlink, a new dir.
		os.WriteFile(m.path("results/new.dat"), []byte("new data"), 0o644)
		if err := os.Rename(m.path("results/new.dat"), m.path("results/run.dat")); err != nil {
			t.Fatal(err)
		}
		os.Remove(m.path("results/run.msg"))
		os.Symlink("run.odb", m.path("results/latest.odb"))
		os.Mkdir(m.path("post"), 0o750)
		os.WriteFile(m.path("post/plot.png"), randBytes(100000), 0o600)
		m.flush()
		verifyOK(t, m, m.mnt, "--exclude", "*.tmp")

		// What verify compares is the mount's view; the backing dir says
		// the same, and the excluded file is not in the remote.
		r := syncfs(t, env, "verify", "--remote", m.remote, m.backing)
		if r.Code != 1 || !strings.Contains(r.Stdout, "missing  scratch.tmp") {
			t.Fatalf("verify of the backing dir should miss only the excluded file: %v", r)
		}
	})
}

// runSolver runs fakesolver into dir.
func runSolver(t *testing.T, dir, name, size string, steps int) error {
	t.Helper()
	cmd := osexec.Command(solverBin, "-dir", dir, "-name", name, "-size", size, "-steps", fmt.Sprint(steps))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("fakesolver: %v: %s", err, out)
	}
	return nil
}

// TestRewriteShipsOnlyRegions is the ABAQUS case through the mount: a
// file written and shipped, then rewritten in a few small regions far
// from its end; the next flush ships those regions (in 4 KiB pages: a new
// prefix is format 2) and nothing else.
func TestRewriteShipsOnlyRegions(t *testing.T) {
	remoteKinds(t, func(t *testing.T, remoteURL string, env []string) {
		m := newMount(t, remoteURL, env)
		p := m.path("job.odb")
		writeAt(t, p, 0, bytes.Repeat(randBytes(1<<20), 48)) // 48 MiB
		m.flush()
		before := status(t, m)["uploaded_bytes"].(float64)
		writeAt(t, p, 100, []byte("new header"))
		writeAt(t, p, 20<<20, randBytes(1000))
		writeAt(t, p, 30<<20+65000, randBytes(2000)) // straddles two blocks
		m.flush()
		shipped := status(t, m)["uploaded_bytes"].(float64) - before
		if want := float64(4 * 4096); shipped != want {
			t.Fatalf("the rewrite shipped %v file bytes, want %v (4 pages)", shipped, want)
		}
		verifyOK(t, m, m.mnt)
	})
}
