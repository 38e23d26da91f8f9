package e2e

import (
	"errors"
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
	// Files open for write before the disk fills: what is written to them
	// while the journal cannot commit must ship once it can.
	held, scatter := openRW(t, m.path("held")), openRW(t, m.path("scatter"))
	if _, err := held.Write(randBytes(5000)); err != nil {
		t.Fatal(err)
	}
	if err := held.Sync(); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(small, "filler")
	fill, _ := os.Create(filler)
	for {
		if _, err := fill.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	fill.Close()
	// A file written in 20,000 scattered pieces: its dirty record alone
	// needs more pages than the full disk can give, so its commit fails,
	// and every retry of it fails until there is room again (a small
	// commit could succeed by reusing the pages a commit freed).
	for k := int64(0); k < 20000; k++ {
		if _, err := scatter.WriteAt([]byte{byte(k)}, k*8192); err != nil {
			t.Fatalf("write to a file opened before the state dir filled: %v", err)
		}
	}
	if err := scatter.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fsync of a change the full state dir cannot record: %v, want ENOSPC", err)
	}
	// A write while the journal cannot commit is taken (its range waits in
	// memory), and fsync says that it could not be recorded. With the
	// writeback cache a refused write would stay in the kernel's page
	// cache, visible in the mount but never in the backing file.
	if _, err := held.WriteAt(randBytes(70000), 3000); err != nil {
		t.Fatalf("write to a file opened before the state dir filled: %v", err)
	}
	if err := held.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fsync with a full state dir: %v, want ENOSPC", err)
	}
	// A new name cannot be recorded: create fails.
	if f, err := os.Create(m.path("during")); !errors.Is(err, syscall.ENOSPC) {
		if err == nil {
			f.Close()
		}
		t.Fatalf("create with a full state dir: %v, want ENOSPC", err)
	}
	if !strings.Contains(m.log(), "no space left") {
		t.Errorf("the daemon log does not say the journal is full:\n%s", m.log())
	}
	os.Remove(filler)
	// With room again, writes are accepted and everything ships, the
	// writes whose fsync failed included.
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

func openRW(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
