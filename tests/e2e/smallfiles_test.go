package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestManySmallFiles ships a tree of 5,000 small files in 50 directories
// written by four writers at once, with renames and deletes under way
// while it is written (and while the uploader ships it): after flush
// --wait the remote equals the tree, byte for byte, and no error was
// reported. The namespace ops ride group commits (journal/async.go), so
// this is where their ordering is tested at scale.
func TestManySmallFiles(t *testing.T) {
	m := newMount(t, "", nil, "--upload-delay", "100ms")
	const dirs, perDir = 50, 100
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := w; d < dirs; d += 4 {
				dir := m.path(fmt.Sprintf("rank%03d", d))
				if err := os.Mkdir(dir, 0o755); err != nil {
					errs <- err
					return
				}
				for i := 0; i < perDir; i++ {
					p := filepath.Join(dir, fmt.Sprintf("step%04d.csv", i))
					if err := os.WriteFile(p, []byte(fmt.Sprintf("%d,%d,%s\n", d, i, randBytes(50+i))), 0o644); err != nil {
						errs <- err
						return
					}
					switch i % 10 {
					case 3: // write to a temp name, rename over: editors, solvers
						tmp := p + ".tmp"
						os.WriteFile(tmp, randBytes(200), 0o644)
						if err := os.Rename(tmp, p); err != nil {
							errs <- err
							return
						}
					case 7: // short-lived
						if err := os.Remove(p); err != nil {
							errs <- err
							return
						}
					case 9: // moved to another directory of its own writer
						if err := os.Rename(p, filepath.Join(m.path(fmt.Sprintf("rank%03d", w)), fmt.Sprintf("moved-%03d-%04d", d, i))); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("written in %v", time.Since(start))
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A whole directory renamed and another removed at the end.
	if err := os.Rename(m.path("rank001"), m.path("rank001-final")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(m.path("rank002")); err != nil {
		t.Fatal(err)
	}
	m.flush()
	t.Logf("flushed at %v", time.Since(start))
	st := status(t, m)
	if errs := st["errors"].([]any); len(errs) != 0 {
		t.Errorf("errors after the small-file job: %v", errs)
	}
	verifyOK(t, m, m.mnt)
	t.Logf("verified at %v", time.Since(start))
	// And after a remount, the journal and the remote still agree.
	m.unmount()
	m.start()
	r := syncfs(t, nil, "flush", "--wait", "--verify", "--timeout", "2m", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, "all present") {
		t.Fatalf("flush --verify after the remount: %v", r)
	}
}
