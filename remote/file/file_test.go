package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"testing"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/file"
	"github.com/syncfs/syncfs/remote/storetest"
)

func newStore(t *testing.T) *file.Store {
	t.Helper()
	s, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remote.Store { return newStore(t) })
}

func TestNoBucket(t *testing.T) {
	s, err := file.New(filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Put(context.Background(), "k", bytes.NewReader(nil), 0, remote.PutOptions{})
	if !errors.Is(err, remote.ErrNoBucket) || !remote.IsPermanent(err) {
		t.Fatalf("put into a missing root: got %v, want a permanent ErrNoBucket", err)
	}
	want := "remote file://" + s.Root() + ": directory " + s.Root() + " does not exist (create it or fix the URL)"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	if _, err := file.New("relative/dir"); err == nil {
		t.Error("New accepted a relative root")
	}
}

// TestSymlinksInsideRoot: a symlink planted inside the root, to a
// directory or a file outside it, is never followed.
func TestSymlinksInsideRoot(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("noOpenat2=%v", fallback), func(t *testing.T) {
			defer file.ForceNoOpenat2(fallback)()
			testSymlinks(t)
		})
	}
}

func testSymlinks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(outside, filepath.Join(s.Root(), "dirlink")))
	must(t, os.Symlink(secret, filepath.Join(s.Root(), "filelink")))
	must(t, os.Mkdir(filepath.Join(s.Root(), "sub"), 0o755))
	must(t, os.Symlink("../..", filepath.Join(s.Root(), "sub", "up")))

	for _, k := range []string{"dirlink/x", "dirlink/secret", "sub/up/x"} {
		err := s.Put(ctx, k, bytes.NewReader([]byte("evil")), 4, remote.PutOptions{})
		if err == nil {
			t.Errorf("put %s through a symlink succeeded", k)
		}
		if !strings.Contains(fmt.Sprint(err), "symbolic link") {
			t.Errorf("put %s through a symlink: got %v, want an error naming the symlink", k, err)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Fatalf("file outside the root changed: %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Fatalf("put wrote outside the root: %v", ents)
	}
	for _, k := range []string{"dirlink/secret", "filelink", "sub/up/secret"} {
		if rc, err := s.Get(ctx, k, 0, -1); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("get %s through a symlink succeeded: %q", k, b)
		}
		if _, err := s.Stat(ctx, k); err == nil {
			t.Errorf("stat %s through a symlink succeeded", k)
		}
	}
	var keys []string
	must(t, s.List(ctx, "", func(oi remote.ObjectInfo) error { keys = append(keys, oi.Key); return nil }))
	if len(keys) != 0 {
		t.Errorf("list followed symlinks: %q", keys)
	}
	// Deleting through a directory symlink is refused or a no-op, never a
	// removal outside.
	s.Delete(ctx, "dirlink/secret")
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("delete removed a file outside the root: %v", err)
	}
}

func TestTempFilesAndEmptyDirs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	put := func(k string) {
		t.Helper()
		must(t, s.Put(ctx, k, bytes.NewReader([]byte(k)), int64(len(k)), remote.PutOptions{}))
	}
	put("a/b/c/obj")
	put("a/other")
	// Leftovers of a crashed put, an empty directory, and a FIFO.
	must(t, os.WriteFile(filepath.Join(s.Root(), "a", remote.ReservedPrefix+"put-dead"), []byte("x"), 0o644))
	must(t, os.MkdirAll(filepath.Join(s.Root(), "empty", "deeper"), 0o755))
	must(t, unix.Mkfifo(filepath.Join(s.Root(), "fifo"), 0o644))

	var keys []string
	must(t, s.List(ctx, "", func(oi remote.ObjectInfo) error { keys = append(keys, oi.Key); return nil }))
	if strings.Join(keys, " ") != "a/b/c/obj a/other" {
		t.Errorf("list: %q", keys)
	}
	if _, err := s.Get(ctx, "fifo", 0, -1); err == nil || errors.Is(err, remote.ErrNotFound) {
		t.Errorf("get of a FIFO: %v, want a clear error", err)
	}

	must(t, s.Delete(ctx, "a/b/c/obj"))
	if _, err := os.Stat(filepath.Join(s.Root(), "a", "b")); !os.IsNotExist(err) {
		t.Errorf("delete left empty parents behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "a")); err != nil {
		t.Errorf("delete removed a non-empty parent: %v", err)
	}
	if _, err := os.Stat(s.Root()); err != nil {
		t.Errorf("delete removed the root: %v", err)
	}
}

func TestParentConflictMessage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	must(t, s.Put(ctx, "a", bytes.NewReader([]byte("a")), 1, remote.PutOptions{}))
	err := s.Put(ctx, "a/b/c", bytes.NewReader([]byte("x")), 1, remote.PutOptions{})
	if !errors.Is(err, remote.ErrKeyConflict) || !strings.Contains(err.Error(), "a is an object") {
		t.Errorf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root(), "a")); string(b) != "a" {
		t.Errorf("a changed: %q", b)
	}
}

// TestPutDeleteRace: a Delete pruning a directory that just became empty
// must not make a concurrent Put into the same directory fail.
func TestPutDeleteRace(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, k := range []string{"z/y/1", "z/y/2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				if err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1, remote.PutOptions{}); err != nil {
					errs <- err
					return
				}
				if err := s.Delete(ctx, k); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
