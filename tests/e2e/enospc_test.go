package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/journal"
)

// smallFS mounts a tmpfs of size bytes at a temp dir, unmounted at the end.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(dir, 0o755)
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	testenv.Need(t, err == nil, "a small tmpfs", "cannot mount one (needs root): "+errString(err))
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestBackingFull: ENOSPC on the backing dir reaches the writing
// application, the journal stays consistent, and what was written ships.
func TestBackingFull(t *testing.T) {
	needFUSE(t)
	small := smallFS(t, "8m")
	dir := t.TempDir()
	m := &mount{t: t, mnt: filepath.Join(dir, "mnt"), backing: small, state: filepath.Join(dir, "state"), remote: "file://" + filepath.Join(dir, "remote")}
	os.MkdirAll(m.mnt, 0o755)
	os.MkdirAll(m.remoteDir(), 0o755)
	m.start()
	t.Cleanup(m.cleanup)

	f, err := os.Create(m.path("big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := randBytes(1 << 20)
	for i := 0; i < 16 && err == nil; i++ {
		_, err = f.Write(buf)
	}
	if err == nil {
		err = f.Sync() // the writeback cache reports it here
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 16 MiB into an 8 MiB backing dir: %v, want ENOSPC", err)
	}
	os.Truncate(m.path("big"), 3<<20) // make room, keep a consistent file
	m.flush()
	verifyOK(t, m, m.mnt)
	m.unmount()
	j, err := journal.Open(m.state, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("journal after ENOSPC: %v", err)
	}
}

// TestStateFull: a full state dir stops accepting writes with a clear
// error instead of accepting bytes it cannot record; with room again,
// writes work and everything ships.
func TestStateFull(t *testing.T) {
	needFUSE(t)
	small := smallFS(t, "4m")
	dir := t.TempDir()
	m := &mount{t: t, mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "backing"), state: filepath.Join(small, "state"), remote: "file://" + filepath.Join(dir, "remote")}
	for _, d := range []string{m.mnt, m.backing, m.remoteDir()} {
		os.MkdirAll(d, 0o755)
	}
	m.start()
	t.Cleanup(m.cleanup)
	writeAt(t, m.path("before"), 0, randBytes(100000))
	m.flush()

	filler := filepath.Join(small, "filler")
	fill, _ := os.Create(filler)
	for {
		if _, err := fill.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	fill.Close()
	// Writes now fail (at open, whose open-for-write mark cannot be
	// committed, or at write, once a commit failed), never silently. The
	// journal file has room of its own left, so it takes some changes
	// (many new names) before a commit needs a page the disk cannot give.
	var failed error
	for i := 0; i < 20000 && failed == nil; i++ {
		name := m.path(fmt.Sprintf("during-%05d-%s", i, strings.Repeat("n", 100)))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			failed = err
			break
		}
		_, err = f.WriteAt([]byte("x"), int64(i)*4096)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		failed = err
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("writes with a full state dir: %v, want ENOSPC", failed)
	}
	if !strings.Contains(m.log(), "no space left") {
		t.Errorf("the daemon log does not say the journal is full:\n%s", m.log())
	}
	os.Remove(filler)
	// With room again, writes are accepted and everything ships.
	var err error
	for i := 0; i < 100; i++ { // the journal retries its commit every 100 ms
		if err = os.WriteFile(m.path("after"), randBytes(200000), 0o644); err == nil {
			break
		}
		syncfs(t, nil, "status", m.mnt) // a round trip, not a sleep
	}
	if err != nil {
		t.Fatalf("writing after the state dir has room again: %v", err)
	}
	m.flush()
	verifyOK(t, m, m.mnt)
}
