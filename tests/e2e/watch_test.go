package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/exitcode"
)

// TestRecoverCommand: the daemon dies with changes it never shipped (and
// files it had open); syncfs recover, without a mount, ships them all.
func TestRecoverCommand(t *testing.T) {
	m := newMount(t, "", nil, "--upload=false")
	writeAt(t, m.path("shipped-later.odb"), 0, randBytes(4<<20))
	f, err := os.OpenFile(m.path("open.odb"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(randBytes(1<<20), 0)
	f.Sync()
	pid := m.pid()
	syscall.Kill(pid, syscall.SIGKILL)
	f.Close()
	waitGone(t, pid)
	m.unmount()

	r := syncfs(t, nil, "recover", "--state", m.state, "--backing", m.backing, "--remote", m.remote, "--timeout", "2m")
	if r.code != 0 || !strings.Contains(r.stdout, "recovered") {
		t.Fatalf("recover: %v", r)
	}
	r = syncfs(t, nil, "verify", "--remote", m.remote, m.backing)
	if r.code != 0 {
		t.Fatalf("verify after recover: %v", r)
	}
	// A live daemon keeps its journal: recover refuses it.
	m.start()
	r = syncfs(t, nil, "recover", "--state", m.state, "--backing", m.backing, "--remote", m.remote)
	if r.code != exitcode.Busy || !strings.Contains(r.stderr, "daemon still runs") {
		t.Fatalf("recover next to a live daemon: %v", r)
	}
}

// TestWatchMode runs the ABAQUS rewrite workload on a plain directory
// under syncfs watch (no FUSE): verify passes, and the bytes shipped by
// the rewrite stay within 1.1x of the modified bytes rounded up to blocks.
func TestWatchMode(t *testing.T) {
	dir := t.TempDir()
	data, remote := filepath.Join(dir, "results"), filepath.Join(dir, "remote")
	os.MkdirAll(data, 0o755)
	os.MkdirAll(remote, 0o755)
	url := "file://" + remote
	writeAt(t, filepath.Join(data, "job.odb"), 0, randBytes(32<<20))
	os.WriteFile(filepath.Join(data, "job.sta"), []byte("step 1\n"), 0o644)
	r := syncfs(t, nil, "watch", "--remote", url, data)
	if r.code != 0 {
		t.Fatalf("watch: %v", r)
	}
	t.Cleanup(func() { syncfs(t, nil, "unmount", data) })
	flushDir := func() map[string]any {
		t.Helper()
		if r := syncfs(t, nil, "flush", "--wait", "--timeout", "2m", data); r.code != 0 {
			t.Fatalf("flush of a watched dir: %v", r)
		}
		st := syncfs(t, nil, "status", "--json", data)
		if st.code != 0 {
			t.Fatal(st)
		}
		return parseJSON(t, st.stdout)
	}
	st := flushDir()
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.code != 0 {
		t.Fatalf("verify: %v", r)
	}
	before := st["uploaded_bytes"].(float64)

	// Rewrite a few regions far from the end, append a log line.
	p := filepath.Join(data, "job.odb")
	writeAt(t, p, 0, []byte("NEW HEADER"))
	writeAt(t, p, 10<<20, randBytes(100000))
	writeAt(t, p, 31<<20, randBytes(5000))
	f, _ := os.OpenFile(filepath.Join(data, "job.sta"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("step 2\n")
	f.Close()
	st = flushDir()
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.code != 0 {
		t.Fatalf("verify after the rewrite: %v", r)
	}
	shipped := st["uploaded_bytes"].(float64) - before
	// Blocks touched: 1 + 2 (100000 bytes from an aligned offset) + 1,
	// plus job.sta's single block.
	blocks := float64(4*64<<10) + 14
	if shipped > 1.1*blocks {
		t.Fatalf("watch mode shipped %v bytes for %v modified (rounded to blocks)", shipped, blocks)
	}
	t.Logf("shipped %v bytes for %v bytes of touched blocks", shipped, blocks)
	if r := syncfs(t, nil, "unmount", data); r.code != 0 || !strings.Contains(r.stdout, "stopped watching") {
		t.Fatalf("stopping the watch: %v", r)
	}
}
