package e2e

import (
	"fmt"
	"github.com/syncfs/syncfs/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
)

// TestMountRefusesBadInput: every problem a user can make fails before
// anything is mounted, with one line naming it and the exit code of its
// class.
func TestMountRefusesBadInput(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	mk := func(p string) string { os.MkdirAll(filepath.Join(dir, p), 0o755); return filepath.Join(dir, p) }
	backing, remote, empty := mk("backing"), mk("remote"), mk("mnt")
	full := mk("full")
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	file := filepath.Join(dir, "plainfile")
	os.WriteFile(file, nil, 0o644)
	good := []string{"--backing", backing, "--remote", "file://" + remote}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no arguments", []string{"mount"}, exitcode.Usage, "want 1 arguments"},
		{"no backing", []string{"mount", "--remote", "file://" + remote, empty}, exitcode.Usage, "--backing"},
		{"no remote", []string{"mount", "--backing", backing, empty}, exitcode.Usage, "--remote"},
		{"unknown flag", append([]string{"mount", "--bogus"}, append(good, empty)...), exitcode.Usage, "bogus"},
		{"unknown scheme", []string{"mount", "--backing", backing, "--remote", "ftp://host/x", empty}, exitcode.Usage, "unknown URL scheme"},
		{"relative file URL", []string{"mount", "--backing", backing, "--remote", "file://rel/x", empty}, exitcode.Usage, "absolute path"},
		{"missing mountpoint", append(append([]string{"mount"}, good...), filepath.Join(dir, "nope")), exitcode.Mountpoint, "does not exist"},
		{"mountpoint is a file", append(append([]string{"mount"}, good...), file), exitcode.Mountpoint, "not a directory"},
		{"mountpoint not empty", append(append([]string{"mount"}, good...), full), exitcode.Mountpoint, "not empty"},
		{"backing missing", []string{"mount", "--backing", filepath.Join(dir, "nob"), "--remote", "file://" + remote, empty}, exitcode.LocalDir, "does not exist"},
		{"backing is a file", []string{"mount", "--backing", file, "--remote", "file://" + remote, empty}, exitcode.LocalDir, "not a directory"},
		{"remote dir missing", []string{"mount", "--backing", backing, "--remote", "file://" + filepath.Join(dir, "noremote"), empty}, exitcode.Remote, "does not exist"},
		{"direct writes with the writeback cache", append(append([]string{"mount", "--direct-writes", "--writeback-cache=true"}, good...), empty), exitcode.Usage, "--direct-writes"},
		{"state inside backing", []string{"mount", "--backing", backing, "--state", filepath.Join(backing, "st"), "--remote", "file://" + remote, empty}, exitcode.Usage, "must not contain each other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := syncfs(t, nil, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want exit %d and %q, got %v", tc.code, tc.want, r)
			}
			oneLine(t, r)
			if _, ok, _ := mountinfo.Find(empty); ok {
				syscall.Unmount(empty, syscall.MNT_DETACH)
				t.Fatal("a failed mount left a mount behind")
			}
		})
	}
}

func TestMountReadOnlyDirs(t *testing.T) {
	needFUSE(t)
	testenv.Need(t, os.Geteuid() == 0, "root", "needed to make a read-only file system")
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(ro, 0o755)
	err := syscall.Mount("tmpfs", ro, "tmpfs", syscall.MS_RDONLY, "size=1m")
	testenv.Need(t, err == nil, "a read-only tmpfs", fmt.Sprint(err))
	defer syscall.Unmount(ro, syscall.MNT_DETACH)
	backing, remote, mnt := filepath.Join(dir, "b"), filepath.Join(dir, "r"), filepath.Join(dir, "m")
	for _, d := range []string{backing, remote, mnt} {
		os.MkdirAll(d, 0o755)
	}
	r := syncfs(t, nil, "mount", "--backing", backing, "--state", filepath.Join(ro, "state"), "--remote", "file://"+remote, mnt)
	if r.Code != exitcode.LocalDir || !strings.Contains(r.Stderr, "read-only file system") {
		t.Fatalf("state dir on a read-only fs: %v", r)
	}
	oneLine(t, r)
	r = syncfs(t, nil, "mount", "--backing", ro, "--remote", "file://"+remote, "--state", filepath.Join(dir, "s"), mnt)
	if r.Code != exitcode.LocalDir || !strings.Contains(r.Stderr, "not writable") {
		t.Fatalf("read-only backing dir: %v", r)
	}
	oneLine(t, r)
}

// TestOneWriter: a second mount on the same state dir or the same remote
// prefix fails fast, naming the holder; the mount point being a syncfs
// mount already is refused too.
func TestOneWriter(t *testing.T) {
	m := newMount(t, "", nil)
	dir := t.TempDir()
	other := filepath.Join(dir, "mnt")
	os.MkdirAll(other, 0o755)
	os.MkdirAll(filepath.Join(dir, "b"), 0o755)

	r := syncfs(t, nil, "mount", "--backing", filepath.Join(dir, "b"), "--state", m.state, "--remote", m.remote, other)
	if r.Code != exitcode.Busy || !strings.Contains(r.Stderr, "held by syncfs pid") {
		t.Errorf("same state dir: %v", r)
	}
	oneLine(t, r)
	r = syncfs(t, nil, "mount", "--backing", filepath.Join(dir, "b"), "--state", filepath.Join(dir, "s2"), "--remote", m.remote, other)
	if r.Code != exitcode.Busy || !strings.Contains(r.Stderr, "is in use by syncfs pid") || !strings.Contains(r.Stderr, m.mnt) {
		t.Errorf("same remote prefix: %v", r)
	}
	oneLine(t, r)
	r = syncfs(t, nil, "mount", "--backing", filepath.Join(dir, "b"), "--state", filepath.Join(dir, "s3"), "--remote", "file://"+t.TempDir(), m.mnt)
	if r.Code != exitcode.Mountpoint || !strings.Contains(r.Stderr, "already a syncfs mount") {
		t.Errorf("mounting over a syncfs mount: %v", r)
	}
	oneLine(t, r)
}

func TestUnmountIsIdempotent(t *testing.T) {
	m := newMount(t, "", nil)
	os.WriteFile(m.path("f"), []byte("x"), 0o644)
	m.unmount()
	r := syncfs(t, nil, "unmount", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, "not mounted") {
		t.Fatalf("second unmount: %v", r)
	}
	// The daemon is gone and left nothing behind.
	if pid := m.pid(); pid != 0 {
		t.Fatalf("pidfile left: %d", pid)
	}
	if out, _ := exec.Command("pgrep", "-f", "syncfs mount --foreground.*"+m.mnt).Output(); len(out) > 0 {
		t.Fatalf("daemon still running: %s", out)
	}
}

func TestStatusJSON(t *testing.T) {
	m := newMount(t, "", nil, "--upload=false")
	os.WriteFile(m.path("a"), make([]byte, 10000), 0o644)
	f, _ := os.OpenFile(m.path("a"), os.O_WRONLY, 0)
	f.WriteAt([]byte("hdr"), 5000)
	f.Close()
	r := syncfs(t, nil, "status", "--json", m.mnt)
	if r.Code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{`"pid":`, `"write_mode": "writeback-cache"`, `"dirty_bytes": 10000`, `"path": "a"`, `"dirty": [`, `"pending_bytes": 10000`, `"uploaded_bytes": 0`, `"sent_bytes":`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %s:\n%s", want, r.Stdout)
		}
	}
	r = syncfs(t, nil, "flush", "--wait", m.mnt)
	if r.Code != exitcode.Error || !strings.Contains(r.Stderr, "does not upload") {
		t.Errorf("flush of a mount that does not upload: %v", r)
	}
	for flag, mode := range map[string]string{"--writeback-cache=false": "write-through", "--direct-writes": "direct"} {
		m := newMount(t, "", nil, "--upload=false", flag)
		if r := syncfs(t, nil, "status", "--json", m.mnt); !strings.Contains(r.Stdout, `"write_mode": "`+mode+`"`) {
			t.Errorf("mount %s: status lacks write_mode %s: %v", flag, mode, r)
		}
	}
}

func TestMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := newMount(t, "", nil, "--metrics-addr", addr)
	os.WriteFile(m.path("f"), make([]byte, 12345), 0o644)
	m.flush()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"syncfs_uploaded_bytes_total 12345", "syncfs_pending_bytes 0", "# TYPE syncfs_sent_bytes_total counter", "syncfs_write_bytes_total 12345", "syncfs_journal_commits_total"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	// Profiles of the daemon are served beside the metrics.
	resp, err = http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine") {
		t.Errorf("/debug/pprof/: %s\n%s", resp.Status, b)
	}
}
