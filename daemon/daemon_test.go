package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/verify"
)

// The daemon driven as the commands drive it, without the binary: Run,
// RunReadOnly's sibling paths and Recover, through the control socket.

// testConfig is a daemon over fresh dirs and a file:// remote.
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	c := Config{
		Mountpoint: filepath.Join(dir, "mnt"), Backing: filepath.Join(dir, "backing"), State: filepath.Join(dir, "state"),
		Remote: "file://" + filepath.Join(dir, "remote"), Passthrough: true, Writeback: true,
		UploadDelay: 50 * time.Millisecond, MaxAge: time.Second, Level: "fastest", Upload: true,
	}
	for _, d := range []string{c.Mountpoint, c.Backing, c.State, filepath.Join(dir, "remote")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.OpenStore = func(ctx context.Context) (remote.Store, error) {
		return backend.Open(ctx, c.Remote, backend.Options{})
	}
	return c
}

// running is a daemon started by start.
type running struct {
	c    Config
	done chan error // Run's result
	log  testenv.Buffer
}

// start runs the daemon in the background and waits until it says it is
// ready; the test fails if it is not, and the daemon is stopped (ctx
// cancelled, as by SIGTERM) at the end of the test if still running.
func start(t *testing.T, c Config) *running {
	t.Helper()
	r := &running{c: c, done: make(chan error, 1)}
	ready := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- Run(ctx, c, func(err error) { ready <- err }, &r.log) }()
	if err := <-ready; err != nil {
		cancel()
		t.Fatalf("daemon not ready: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop on its signal")
		}
	})
	return r
}

// flush asks the daemon to ship everything written so far and waits until
// the remote holds it.
func (r *running) flush(t *testing.T) FlushProgress {
	t.Helper()
	cl := &control.Client{Dir: r.c.State}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var p FlushProgress
	if err := cl.Do(ctx, "POST", "/flush", nil, &p); err != nil {
		t.Fatal(err)
	}
	for !p.Settled {
		if err := cl.Do(ctx, "GET", fmt.Sprintf("/flush?barrier=%d&wait=5s", p.Barrier), nil, &p); err != nil {
			t.Fatal(err)
		}
		if p.Error != "" {
			t.Fatalf("flush: %s", p.Error)
		}
	}
	return p
}

// unmount sends the unmount request and waits for Run to return.
func (r *running) unmount(t *testing.T) {
	t.Helper()
	if err := (&control.Client{Dir: r.c.State}).Do(context.Background(), "POST", "/unmount", nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the unmount request")
	}
	r.done <- nil // for the cleanup
	for _, name := range []string{"pid", control.SocketName} {
		if _, err := os.Stat(filepath.Join(r.c.State, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the state dir after the stop: %v", name, err)
		}
	}
}

// checkRemote fails the test unless the remote's tree equals dir byte for
// byte.
func checkRemote(t *testing.T, c Config, dir string) {
	t.Helper()
	ctx := context.Background()
	store, err := c.OpenStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := browse.Open(ctx, store, browse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Tree(ctx, tree, "", dir, verify.Options{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) > 0 || rep.Files == 0 {
		t.Fatalf("remote differs from %s (%d files): %v", dir, rep.Files, rep.Differences)
	}
}

func writeFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("file %d\n", i)), 1000*(i+1))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMountShipsAndUnmounts(t *testing.T) {
	testenv.NeedFUSE(t)
	r := start(t, testConfig(t))
	writeFiles(t, r.c.Mountpoint, 5)
	var st Status
	if err := (&control.Client{Dir: r.c.State}).Do(context.Background(), "GET", "/status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mountpoint != r.c.Mountpoint || st.WriteMode != "writeback-cache" {
		t.Errorf("status: mountpoint %q, write mode %q", st.Mountpoint, st.WriteMode)
	}
	if p := r.flush(t); p.UploadedBytes == 0 {
		t.Errorf("flush settled with nothing uploaded: %+v", p)
	}
	checkRemote(t, r.c, r.c.Mountpoint)
	r.unmount(t)
	if b, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(b), r.c.Mountpoint) {
		t.Fatalf("%s still mounted after Run returned", r.c.Mountpoint)
	}
	if !strings.Contains(r.log.String(), "unmounted "+r.c.Mountpoint) {
		t.Errorf("log does not say the mount ended:\n%s", r.log.String())
	}
}

func TestWatchShipsAndStops(t *testing.T) {
	c := testConfig(t)
	c.Watch = true
	r := start(t, c)
	writeFiles(t, c.Backing, 3)
	r.flush(t)
	checkRemote(t, c, c.Backing)
	r.unmount(t)
	if !strings.Contains(r.log.String(), "stopped the watch of "+c.Backing) {
		t.Errorf("log does not say the watch ended:\n%s", r.log.String())
	}
}

// A journal that holds changes no daemon shipped (a mount with
// --upload=false here, a dead daemon in a job) is shipped by Recover.
func TestRecoverShipsWhatTheJournalHolds(t *testing.T) {
	testenv.NeedFUSE(t)
	c := testConfig(t)
	c.Upload = false
	r := start(t, c)
	writeFiles(t, c.Mountpoint, 4)
	r.unmount(t)
	if _, err := os.ReadDir(filepath.Join(strings.TrimPrefix(c.Remote, "file://"), "i")); err == nil {
		t.Fatal("a mount with uploads off wrote inode objects")
	}

	rep, err := Recover(context.Background(), c, log.New(io.Discard, "", 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.UploadedBytes != 10000*7 {
		t.Errorf("recover shipped %d bytes, want the %d written", rep.UploadedBytes, 10000*7)
	}
	checkRemote(t, c, c.Backing)
}

// A journal another process holds: Run fails before mounting, with the
// busy exit code, and tells ready so.
func TestRunJournalBusy(t *testing.T) {
	c := testConfig(t)
	j, err := journal.Open(c.State, journal.Options{Holder: "the test"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var told error
	err = Run(context.Background(), c, func(err error) { told = err }, io.Discard)
	if exitcode.Of(err) != exitcode.Busy || told == nil {
		t.Fatalf("Run on a held journal: %v (exit %d), ready told %v", err, exitcode.Of(err), told)
	}
	_, err = Recover(context.Background(), c, log.New(io.Discard, "", 0), nil)
	if exitcode.Of(err) != exitcode.Busy || !strings.Contains(err.Error(), "a daemon still runs") {
		t.Fatalf("Recover on a held journal: %v (exit %d)", err, exitcode.Of(err))
	}
}
