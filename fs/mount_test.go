package fs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/journal"
)

// testMount is a real mount in a temp dir, unmounted when the test ends.
type testMount struct {
	mnt, backing, state string
	j                   *journal.Journal
	fs                  *FS
	server              *fuse.Server
}

func fuseUsable() (bool, string) {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return false, "cannot open /dev/fuse: " + err.Error()
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err := execLookPath("fusermount3"); err != nil {
			return false, "not root and no fusermount3 (apt-get install fuse3)"
		}
	}
	return true, ""
}

func newTestMount(t testing.TB, opts Options, mo MountOptions) *testMount {
	t.Helper()
	ok, why := fuseUsable()
	testenv.Need(t, ok, "FUSE", why)
	dir := t.TempDir()
	// Let other users (the OtherUser test) reach the mount.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	m := &testMount{mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "backing"), state: filepath.Join(dir, "state")}
	if opts.Backing != "" {
		m.backing = opts.Backing
	}
	for _, d := range []string{m.mnt, m.backing} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	j, err := journal.Open(m.state, journal.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m.j = j
	opts.Backing, opts.Journal = m.backing, j
	fsys, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.fs = fsys
	if mo.FsName == "" {
		mo.FsName = "syncfs-test"
	}
	mo.AllowOther = os.Geteuid() == 0
	server, err := Mount(m.mnt, fsys, mo)
	if err != nil {
		j.Close()
		t.Fatal(err)
	}
	m.server = server
	t.Cleanup(m.unmount)
	return m
}

func (m *testMount) unmount() {
	if m.server != nil {
		m.server.Unmount()
		m.server.Wait()
		m.server = nil
	}
	if m.fs != nil {
		m.fs.Close()
		m.fs = nil
	}
	if m.j != nil {
		m.j.Close()
		m.j = nil
	}
}

func TestSmoke(t *testing.T) {
	m := newTestMount(t, Options{}, MountOptions{})
	p := filepath.Join(m.mnt, "a.txt")
	if err := os.WriteFile(p, []byte("hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(m.backing, "a.txt"))
	if err != nil || string(b) != "hello world" {
		t.Fatalf("backing has %q, %v", b, err)
	}
	st, err := m.j.State()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
}
