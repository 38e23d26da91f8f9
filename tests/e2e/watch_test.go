package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	if r.Code != 0 || !strings.Contains(r.Stdout, "recovered") {
		t.Fatalf("recover: %v", r)
	}
	r = syncfs(t, nil, "verify", "--remote", m.remote, m.backing)
	if r.Code != 0 {
		t.Fatalf("verify after recover: %v", r)
	}
	// A live daemon keeps its journal: recover refuses it.
	m.start()
	r = syncfs(t, nil, "recover", "--state", m.state, "--backing", m.backing, "--remote", m.remote)
	if r.Code != exitcode.Busy || !strings.Contains(r.Stderr, "daemon still runs") {
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
	if r.Code != 0 {
		t.Fatalf("watch: %v", r)
	}
	t.Cleanup(func() { syncfs(t, nil, "unmount", data) })
	flushDir := func() map[string]any {
		t.Helper()
		if r := syncfs(t, nil, "flush", "--wait", "--timeout", "2m", data); r.Code != 0 {
			t.Fatalf("flush of a watched dir: %v", r)
		}
		st := syncfs(t, nil, "status", "--json", data)
		if st.Code != 0 {
			t.Fatal(st)
		}
		return parseJSON(t, st.Stdout)
	}
	st := flushDir()
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.Code != 0 {
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
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.Code != 0 {
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
	if r := syncfs(t, nil, "unmount", data); r.Code != 0 || !strings.Contains(r.Stdout, "stopped watching") {
		t.Fatalf("stopping the watch: %v", r)
	}
}

// TestWatchNamespace: under syncfs watch, new directories (with files
// made before their watch exists), renames and removals reach the remote;
// a directory inotify cannot watch (a path longer than PATH_MAX) falls
// back to periodic rescans, logged, and still ships.
func TestWatchNamespace(t *testing.T) {
	dir := t.TempDir()
	data, remote := filepath.Join(dir, "results"), filepath.Join(dir, "remote")
	os.MkdirAll(data, 0o755)
	os.MkdirAll(remote, 0o755)
	url := "file://" + remote
	if r := syncfs(t, nil, "watch", "--remote", url, "--max-age", "2s", data); r.Code != 0 {
		t.Fatalf("watch: %v", r)
	}
	t.Cleanup(func() { syncfs(t, nil, "unmount", data) })
	os.MkdirAll(filepath.Join(data, "case1", "fields"), 0o755)
	os.WriteFile(filepath.Join(data, "case1", "fields", "u.bin"), randBytes(200000), 0o644)
	os.WriteFile(filepath.Join(data, "case1", "log"), []byte("ok\n"), 0o644)
	os.Rename(filepath.Join(data, "case1"), filepath.Join(data, "case-final"))
	os.WriteFile(filepath.Join(data, "gone"), []byte("x"), 0o644)
	os.Remove(filepath.Join(data, "gone"))
	// A tree deeper than inotify can name.
	deep := data
	for len(deep) < 4300 {
		deep = filepath.Join(deep, strings.Repeat("d", 200))
	}
	if err := mkdirAllLong(deep); err != nil {
		t.Fatal(err)
	}
	if err := writeLong(filepath.Join(deep, "leaf"), []byte("deep leaf")); err != nil {
		t.Fatal(err)
	}
	if r := syncfs(t, nil, "flush", "--wait", "--timeout", "1m", data); r.Code != 0 {
		t.Fatalf("flush: %v", r)
	}
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.Code != 0 {
		t.Fatalf("verify: %v", r)
	}
	// The watcher meets the deep tree when it handles the directories'
	// creation events, which flush (a full scan in watch mode) does not
	// wait for.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log, _ := os.ReadFile(filepath.Join(dir, ".results.syncfs", "syncfs.log"))
		if strings.Contains(string(log), "rescanning the whole tree") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch did not say it fell back to rescans:\n%s", log)
		}
	}
	st := watchStatus(t, data)
	if st["reconcile"].(map[string]any)["watch_rescans"] != true {
		t.Errorf("status does not say the tree is rescanned: %v", st["reconcile"])
	}
	// Once the deep tree is gone, every directory is watched again and
	// the periodic rescans stop (at the next one, within --max-age).
	top, _ := filepath.Rel(data, deep)
	if err := os.RemoveAll(filepath.Join(data, strings.Split(top, "/")[0])); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if watchStatus(t, data)["reconcile"].(map[string]any)["watch_rescans"] == false {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, ".results.syncfs", "syncfs.log"))
			t.Fatalf("the watch stays in rescan mode after the deep tree is gone:\n%s", log)
		}
		syncfs(t, nil, "flush", "--wait", data) // a round trip, not a sleep
	}
	if log, _ := os.ReadFile(filepath.Join(dir, ".results.syncfs", "syncfs.log")); !strings.Contains(string(log), "periodic rescans stop") {
		t.Errorf("the log does not say the rescans stopped:\n%s", log)
	}
	if r := syncfs(t, nil, "verify", "--remote", url, data); r.Code != 0 {
		t.Fatalf("verify after removing the deep tree: %v", r)
	}
}

func watchStatus(t *testing.T, dir string) map[string]any {
	t.Helper()
	r := syncfs(t, nil, "status", "--json", dir)
	if r.Code != 0 {
		t.Fatal(r)
	}
	return parseJSON(t, r.Stdout)
}

// mkdirAllLong and writeLong work below PATH_MAX by walking with dir fds.
func mkdirAllLong(p string) error {
	fd, err := syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if err := syscall.Mkdirat(fd, c, 0o755); err != nil && err != syscall.EEXIST {
			syscall.Close(fd)
			return err
		}
		next, err := syscall.Openat(fd, c, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		syscall.Close(fd)
		if err != nil {
			return err
		}
		fd = next
	}
	return syscall.Close(fd)
}

func writeLong(p string, data []byte) error {
	dir, name := filepath.Split(p)
	fd, err := syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	for _, c := range strings.Split(strings.Trim(dir, "/"), "/") {
		next, err := syscall.Openat(fd, c, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		syscall.Close(fd)
		if err != nil {
			return err
		}
		fd = next
	}
	defer syscall.Close(fd)
	f, err := syscall.Openat(fd, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer syscall.Close(f)
	_, err = syscall.Write(f, data)
	return err
}
