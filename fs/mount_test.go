package fs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/journal"
)

// Mount tests serve the mount from a child process (this test binary,
// re-executed) and act on it from the test process. A process that both
// serves a FUSE mount and touches it can deadlock: a page fault on a
// mapping of the mount blocks a thread outside any system call, and the
// Go runtime's stop-the-world then waits for it forever while the
// goroutines that would answer the fault are stopped.

const serverEnv = "SYNCFS_FS_TEST_SERVER"

type serverConfig struct {
	Mnt, Backing, State string
	Passthrough         bool
	Quiet               time.Duration
	NoWriteback         bool
	DirectWrites        bool
	Exclude             []string
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(serverEnv); cfg != "" {
		os.Exit(serveForTest(cfg))
	}
	os.Exit(m.Run())
}

// serveForTest is the child: mount, say "ready", serve until stdin closes
// or SIGTERM, unmount, close the journal.
func serveForTest(cfgJSON string) int {
	var c serverConfig
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	j, err := journal.Open(c.State, journal.Options{Holder: "fs test server"})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer j.Close()
	fsys, err := New(Options{Backing: c.Backing, Journal: j, Passthrough: c.Passthrough, PassthroughQuiet: c.Quiet, Exclude: c.Exclude})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer fsys.Close()
	server, err := Mount(c.Mnt, fsys, MountOptions{FsName: "syncfs-test", AllowOther: os.Geteuid() == 0, NoWriteback: c.NoWriteback, DirectWrites: c.DirectWrites})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
	for i := 0; ; i++ {
		err := server.Unmount()
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the test may still be closing files
	}
	server.Wait()
	// As the daemon does: no write can come once the connection is gone,
	// and a RELEASE the unmount dropped must not leave a mark behind.
	j.ReleaseAll()
	return 0
}

// testMount is a real mount in a temp dir, served by a child process and
// unmounted when the test ends.
type testMount struct {
	mnt, backing, state string
	cmd                 *exec.Cmd
	stdin               io.WriteCloser
	cfg                 serverConfig
}

func newTestMount(t testing.TB, opts Options, mo MountOptions) *testMount {
	t.Helper()
	ok, why := testenv.FUSE()
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
	m.cfg = serverConfig{Mnt: m.mnt, Backing: m.backing, State: m.state, Passthrough: opts.Passthrough, Quiet: opts.PassthroughQuiet, NoWriteback: mo.NoWriteback, DirectWrites: mo.DirectWrites, Exclude: opts.Exclude}
	m.start(t)
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *testMount) start(t testing.TB) {
	t.Helper()
	cfg, _ := json.Marshal(m.cfg)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serverEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("test server: %q", line)
	}
	m.cmd, m.stdin = cmd, stdin
}

// stop unmounts and waits for the server to exit; a server that does not
// exit in time is killed and its mount detached.
func (m *testMount) stop(t testing.TB) {
	if m.cmd == nil {
		return
	}
	m.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- m.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("test server did not exit; killing it")
		m.cmd.Process.Kill()
		<-done
		syscall.Unmount(m.mnt, syscall.MNT_DETACH)
	}
	m.cmd = nil
}

// journal stops the mount and opens its journal, checking its invariants
// when the test ends.
func (m *testMount) journal(t testing.TB) *journal.Journal {
	t.Helper()
	m.stop(t)
	j, err := journal.Open(m.state, journal.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	if err := j.Check(); err != nil {
		t.Fatalf("journal invariant: %v", err)
	}
	return j
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
	st, err := m.journal(t).State()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Path != "a.txt" || st[0].Dirty.Bytes() != 11 {
		t.Fatalf("journal state %+v", st)
	}
	// The kernel sends RELEASE after close(2) has returned, and an unmount
	// right after may drop it: the server ends every open-for-write once
	// the connection is gone, so no mark is left.
	if st[0].OpenWrite {
		t.Fatalf("still marked open for write after close and unmount: %+v", st)
	}
}
