package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// The tests of this file check that syncfs says what it did: a command
// that reports success has done it, one that could not says why.

// proxiedMount mounts over a prefix of a real MinIO reached through a
// fault proxy, which the test can make fail.
func proxiedMount(t *testing.T, prefix string) (*mount, *miniotest.FaultProxy, []string) {
	t.Helper()
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	proxy := miniotest.NewFaultProxy(t, srv.Endpoint)
	env := append(srv.Env(), "AWS_ENDPOINT_URL="+proxy.URL)
	return newMount(t, miniotest.URL(bucket, prefix), env), proxy, env
}

// failWrites makes the proxy answer 503 to every write while on is true.
func failWrites(proxy *miniotest.FaultProxy, on bool) {
	proxy.SetRule(func(r *http.Request, n int) miniotest.Fault {
		if on && (r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete) {
			return miniotest.Status503
		}
		return miniotest.Pass
	})
}

// TestUnmountFlush: unmount --flush waits like flush --wait. With the
// remote failing it times out with exit 3, says why, and leaves the mount
// in place; with the remote back it ships everything before unmounting,
// so that the backing dir verifies against the remote afterwards.
func TestUnmountFlush(t *testing.T) {
	m, proxy, env := proxiedMount(t, "unmount-flush")
	writeAt(t, m.path("before"), 0, randBytes(1<<20))
	m.flush()

	failWrites(proxy, true)
	writeAt(t, m.path("pending"), 0, randBytes(8<<20))
	os.Mkdir(m.path("dir"), 0o755)
	r := syncfs(t, env, "unmount", "--flush", "--timeout", "3s", m.mnt)
	if r.Code != exitcode.Timeout || !strings.Contains(r.Stderr, "not unmounting") || !strings.Contains(r.Stderr, "pending") {
		t.Fatalf("unmount --flush with the remote failing: %v", r)
	}
	oneLine(t, r)
	if !strings.Contains(r.Stderr, "the remote fails") || !strings.Contains(r.Stderr, "SlowDown") {
		t.Errorf("the timeout does not say why nothing ships: %s", r.Stderr)
	}
	if _, ok, _ := mountinfo.Find(m.mnt); !ok {
		t.Fatal("unmount --flush timed out but unmounted anyway")
	}
	st := status(t, m)
	if st["pending_bytes"].(float64) < 8<<20 {
		t.Errorf("pending after the timeout: %v", st["pending_bytes"])
	}
	tr, _ := st["remote_trouble"].(map[string]any)
	if tr == nil || !strings.Contains(fmt.Sprint(tr["error"]), "SlowDown") || tr["attempt"].(float64) < 1 || st["retries"].(float64) < 1 {
		t.Errorf("status does not show the remote failing: remote_trouble %v, retries %v", st["remote_trouble"], st["retries"])
	}

	failWrites(proxy, false)
	r = syncfs(t, env, "unmount", "--flush", "--timeout", "2m", m.mnt)
	if r.Code != 0 {
		t.Fatalf("unmount --flush: %v\nlog:\n%s", r, m.log())
	}
	if _, ok, _ := mountinfo.Find(m.mnt); ok {
		t.Fatal("still mounted after unmount --flush")
	}
	verifyOK(t, m, m.backing)
}

// TestFlushTimeoutJSON: flush --json prints its object on a timeout too,
// with what is pending (bytes and operations) and why nothing ships.
func TestFlushTimeoutJSON(t *testing.T) {
	m, proxy, env := proxiedMount(t, "json")
	os.WriteFile(m.path("a"), []byte("x"), 0o644)
	m.flush()

	failWrites(proxy, true)
	// Only namespace work pending: a rename and a delete, no bytes.
	os.Rename(m.path("a"), m.path("b"))
	os.Mkdir(m.path("d"), 0o755)
	r := syncfs(t, env, "flush", "--wait", "--json", "--timeout", "3s", m.mnt)
	if r.Code != exitcode.Timeout {
		t.Fatalf("flush --json with the remote failing: %v", r)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("flush --json printed no JSON on timeout: %v: %q", err, r.Stdout)
	}
	if out["timed_out"] != true || out["settled"] != false || out["pending_ops"].(float64) < 1 || out["remote_trouble"] == nil {
		t.Errorf("flush --json on timeout: %s", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "operation") {
		t.Errorf("the timeout line does not count the pending operations: %s", r.Stderr)
	}
	failWrites(proxy, false)
	m.flush()
	verifyOK(t, m, m.mnt)
}

// TestShortLivedFilesAreNoErrors: files created and removed before they
// ship (SQLite's -journal, an editor's temp file) are not upload errors:
// status's error list stays empty, the daemon logs nothing for them, and
// they are counted as vanished.
func TestShortLivedFilesAreNoErrors(t *testing.T) {
	m := newMount(t, "", nil, "--upload-delay", "50ms")
	data := randBytes(64 << 10)
	for i := 0; i < 300; i++ {
		p := m.path(fmt.Sprintf("db-journal-%d", i%3))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			os.WriteFile(m.path("db"), data[:i+1], 0o644)
		}
	}
	m.flush()
	st := status(t, m)
	if errs := st["errors"].([]any); len(errs) != 0 {
		t.Errorf("status errors after short-lived files: %v", errs)
	}
	if strings.Contains(m.log(), "moved or changed type") {
		t.Errorf("the daemon logged the benign race:\n%s", m.log())
	}
	if st["vanished"] == nil {
		t.Errorf("status has no vanished count: %v", st)
	}
	verifyOK(t, m, m.mnt)
}

// TestUsageErrors: durations that cannot mean what the user wants and
// exclude patterns verify cannot use are usage errors (exit 2, one line).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	remote := "file://" + dir
	for _, args := range [][]string{
		{"flush", "--wait", "--timeout", "0", mnt},
		{"flush", "--wait", "--timeout", "-5s", mnt},
		{"unmount", "--flush", "--timeout", "0s", mnt},
		{"recover", "--state", dir, "--backing", dir, "--remote", remote, "--timeout", "-1m"},
		{"mount", "--backing", dir, "--remote", remote, "--upload-delay", "-1s", mnt},
		{"mount", "--backing", dir, "--remote", remote, "--max-age", "0s", mnt},
		{"watch", "--remote", remote, "--max-age", "-3s", dir},
		{"verify", "--remote", remote, "--exclude", "[", dir},
	} {
		r := syncfs(t, nil, args...)
		if r.Code != exitcode.Usage {
			t.Errorf("%v: %v, want exit %d", args, r, exitcode.Usage)
			continue
		}
		oneLine(t, r)
	}
}

// TestVerifyExcludeMatchesMount: verify --exclude takes the patterns of
// mount --exclude with the same meaning, leading and trailing slashes
// included.
func TestVerifyExcludeMatchesMount(t *testing.T) {
	m := newMount(t, "", nil, "--exclude", "/scratch/", "--exclude", "*.tmp")
	os.MkdirAll(m.path("scratch/deep"), 0o755)
	os.WriteFile(m.path("scratch/deep/x"), []byte("never shipped"), 0o644)
	os.WriteFile(m.path("a.tmp"), []byte("never shipped"), 0o644)
	os.WriteFile(m.path("keep"), []byte("shipped"), 0o644)
	m.flush()
	verifyOK(t, m, m.mnt, "--exclude", "/scratch/", "--exclude", "*.tmp")
}

// TestSymlinkTimesSurviveUpload: shipping a symlink (after utimensat with
// AT_SYMLINK_NOFOLLOW, which makes its attributes dirty) must not touch
// the backing link: a readlink there would update its atime under
// relatime and undo the user's utimensat (pjdfstest utimensat/05.t).
func TestSymlinkTimesSurviveUpload(t *testing.T) {
	m := newMount(t, "", nil)
	link := m.path("link")
	if err := os.Symlink("target/that/does/not/exist", link); err != nil {
		t.Fatal(err)
	}
	m.flush()
	ts := []unix.Timespec{{Sec: 1_000_000_000, Nsec: 5}, {Sec: 1_100_000_000, Nsec: 7}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	m.flush()
	for _, p := range []string{link, filepath.Join(m.backing, "link")} {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Atim != ts[0] || st.Mtim != ts[1] {
			t.Errorf("%s after the upload: atime %v mtime %v, want %v %v", p, st.Atim, st.Mtim, ts[0], ts[1])
		}
	}
	verifyOK(t, m, m.mnt)
}

// TestDamagedJournal: a journal bbolt cannot read gets its own exit code
// and one line saying what to do, without bbolt's internals (which go to
// the daemon log).
func TestDamagedJournal(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	mnt, backing, state, remote := filepath.Join(dir, "mnt"), filepath.Join(dir, "backing"), filepath.Join(dir, "state"), filepath.Join(dir, "remote")
	for _, d := range []string{mnt, backing, state, remote} {
		os.MkdirAll(d, 0o755)
	}
	// A journal whose pages are garbage (a disk that lost its blocks).
	if err := os.WriteFile(filepath.Join(state, "journal.db"), randBytes(64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"mount", "--backing", backing, "--state", state, "--remote", "file://" + remote, mnt},
		{"recover", "--backing", backing, "--state", state, "--remote", "file://" + remote},
	} {
		r := syncfs(t, nil, args...)
		if r.Code != exitcode.Journal || !strings.Contains(r.Stderr, "move it aside") {
			t.Errorf("%s with a damaged journal: %v", args[0], r)
		}
		oneLine(t, r)
		for _, internal := range []string{"panic", "goroutine", "invalid database", "page"} {
			if strings.Contains(r.Stderr, internal) {
				t.Errorf("%s shows bbolt's internals (%q): %s", args[0], internal, r.Stderr)
			}
		}
	}
	if _, ok, _ := mountinfo.Find(mnt); ok {
		t.Fatal("mounted over a damaged journal")
	}
}

// shipTree writes a small tree with files, a symlink and nested
// directories into the mount and flushes it.
func shipTree(t *testing.T, m *mount) {
	t.Helper()
	os.MkdirAll(m.path("run/step1"), 0o755)
	writeAt(t, m.path("run/result.odb"), 0, randBytes(3<<20))
	writeAt(t, m.path("run/step1/field.vtk"), 0, randBytes(100<<10))
	os.WriteFile(m.path("log.txt"), []byte("converged\n"), 0o644)
	os.Symlink("run/result.odb", m.path("latest"))
	m.flush()
	verifyOK(t, m, m.mnt)
}

// removeRemote deletes every object of the file:// remote for which
// keep returns false, as a mistaken rm or a lifecycle rule would.
func removeRemote(t *testing.T, m *mount, keep func(rel string) bool) int {
	t.Helper()
	n := 0
	filepath.Walk(m.remoteDir(), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(m.remoteDir(), p)
		if !keep(rel) {
			os.Remove(p)
			n++
		}
		return nil
	})
	return n
}

// TestRemoteAudit: a remote changed behind syncfs's back is noticed by
// flush --wait --verify, which ships again what it lost (reading no file
// data to find it), and by the next mount; verify passes after each.
func TestRemoteAudit(t *testing.T) {
	m := newMount(t, "", nil)
	shipTree(t, m)

	// Everything under the prefix deleted.
	if n := removeRemote(t, m, func(string) bool { return false }); n < 10 {
		t.Fatalf("only %d objects to remove", n)
	}
	r := syncfs(t, nil, "flush", "--wait", "--verify", "--timeout", "2m", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, "missing") || !strings.Contains(r.Stdout, "shipping again") || !strings.Contains(r.Stdout, "all present") {
		t.Fatalf("flush --verify after the remote was emptied: %v\nlog:\n%s", r, m.log())
	}
	t.Logf("flush --verify after the remote was emptied:\n%s", r.Stdout)
	verifyOK(t, m, m.mnt)
	st := status(t, m)
	if a, _ := st["audit"].(map[string]any); a == nil || a["missing"].(float64) != 0 || a["inodes"].(float64) < 6 {
		t.Errorf("status audit after the repair: %v", st["audit"])
	}

	// One data object, one segment manifest and one dentry deleted.
	var gone []string
	removeRemote(t, m, func(rel string) bool {
		for _, pre := range []string{"d/", "i/0000000000000002/s/", "n/0000000000000001/log.txt"} {
			if strings.HasPrefix(rel, pre) && len(gone) < 3 && !strings.HasPrefix(strings.Join(gone, " "), pre) {
				gone = append(gone, rel)
				return false
			}
		}
		return true
	})
	if len(gone) == 0 {
		t.Fatal("nothing removed")
	}
	r = syncfs(t, nil, "flush", "--wait", "--verify", "--json", "--timeout", "2m", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"audit"`) {
		t.Fatalf("flush --verify --json after removing %v: %v", gone, r)
	}
	t.Logf("removed %v; flush --verify --json: %s", gone, r.Stdout)
	verifyOK(t, m, m.mnt)

	// A remount after the prefix was emptied re-ships at once.
	m.unmount()
	removeRemote(t, m, func(string) bool { return false })
	m.start()
	m.flush()
	if !strings.Contains(m.log(), "re-journaled") {
		t.Errorf("the mount-time audit did not re-journal:\n%s", m.log())
	}
	verifyOK(t, m, m.mnt)

	// A sound remote: flush --verify changes nothing.
	r = syncfs(t, nil, "flush", "--wait", "--verify", m.mnt)
	if r.Code != 0 || !strings.Contains(r.Stdout, "all present") || strings.Contains(r.Stdout, "shipping again") {
		t.Errorf("flush --verify of a sound remote: %v", r)
	}
}
