package download_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/browse/download"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

type fixture struct {
	w     *browsetest.Writer
	store *browsetest.Counting
	logs  *bytes.Buffer
	mu    sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	c := &browsetest.Counting{Store: mem.New("mem://get")}
	return &fixture{w: browsetest.New(t, c), store: c, logs: &bytes.Buffer{}}
}

func (fx *fixture) tree(t *testing.T, store remote.Store) *browse.Tree {
	t.Helper()
	if store == nil {
		store = fx.store
	}
	tr, err := browse.Open(context.Background(), store, browse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (fx *fixture) get(t *testing.T, tr *browse.Tree, rel, dir string) (download.Result, error) {
	t.Helper()
	return download.Get(context.Background(), tr, rel, dir, download.Options{Logger: log.New(&lockedWriter{fx}, "", 0)})
}

type lockedWriter struct{ fx *fixture }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.fx.mu.Lock()
	defer l.fx.mu.Unlock()
	return l.fx.logs.Write(p)
}

// checkTree compares dir with the writer's tree below it.
func checkTree(t *testing.T, w *browsetest.Writer, dir string, files []string) {
	t.Helper()
	for _, p := range files {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !bytes.Equal(got, w.Content(p)) {
			t.Fatalf("%s: contents differ (%d bytes, want %d)", p, len(got), len(w.Content(p)))
		}
		checkAttrs(t, w, dir, p)
	}
}

func checkAttrs(t *testing.T, w *browsetest.Writer, dir, p string) {
	t.Helper()
	m := w.Manifest(p)
	st, err := os.Lstat(filepath.Join(dir, p))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != format.KindSymlink && uint32(st.Mode().Perm()) != m.Mode&0o777 {
		t.Errorf("%s: mode %v, want %o", p, st.Mode(), m.Mode)
	}
	if !st.ModTime().Equal(m.Mtime) {
		t.Errorf("%s: mtime %v, want %v", p, st.ModTime(), m.Mtime)
	}
}

func TestGetTree(t *testing.T) {
	fx := newFixture(t)
	w := fx.w
	files := w.WriteVariety(false)
	w.Symlink("dir/link", "../../etc/passwd")
	w.Mkdir("private", 0o700)
	w.WriteFile("private/x", []byte("x"), 0o400)
	w.SetAttr("dir/sub", func(m *format.Manifest) { m.Mode, m.Mtime = 0o750, time.Unix(1600000000, 5) })
	w.SetAttr("short.txt", func(m *format.Manifest) { m.Mode = 0o4755 }) // set-user-ID is dropped
	files = append(files, "private/x")
	dir := t.TempDir()
	res, err := fx.get(t, fx.tree(t, nil), "", dir)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, fx.logs)
	}
	checkTree(t, w, dir, files)
	if target, err := os.Readlink(filepath.Join(dir, "dir/link")); err != nil || target != "../../etc/passwd" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	checkAttrs(t, w, dir, "dir/link")
	checkAttrs(t, w, dir, "dir/sub")
	checkAttrs(t, w, dir, "private")
	if st, _ := os.Stat(filepath.Join(dir, "short.txt")); st.Mode()&os.ModeSetuid != 0 {
		t.Errorf("set-user-ID kept: %v", st.Mode())
	}
	if res.Files != len(files) || res.Symlinks != 1 || res.Fetched == 0 || res.Failed != 0 {
		t.Errorf("result %+v", res)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".syncfs-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}

	// Again: nothing to fetch.
	gets := fx.store.DataGets.Load()
	res, err = fx.get(t, fx.tree(t, nil), "", dir)
	if err != nil || res.Fetched != 0 || fx.store.DataGets.Load() != gets {
		t.Errorf("second get: %+v, %v, %d data GETs", res, err, fx.store.DataGets.Load()-gets)
	}

	// One block changed locally, one file cut short: only those come back.
	f := filepath.Join(dir, "rewritten.odb")
	b, _ := os.ReadFile(f)
	b[3*format.BlockSize+7] ^= 1
	os.WriteFile(f, b, 0o644)
	os.Truncate(filepath.Join(dir, "dir/sub/frames"), 100)
	res, err = fx.get(t, fx.tree(t, nil), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	frames := int64(len(w.Content("dir/sub/frames")))
	if want := frames - 0 + format.BlockSize; res.Fetched > want || res.Fetched < format.BlockSize {
		t.Errorf("fetched %d bytes to repair one block and one truncated file of %d", res.Fetched, frames)
	}
	checkTree(t, w, dir, files)
}

func TestGetOneFile(t *testing.T) {
	fx := newFixture(t)
	fx.w.WriteFile("a/b/data.bin", browsetest.Pattern(1, 300000), 0o640)
	dir := filepath.Join(t.TempDir(), "new", "dir")
	if _, err := fx.get(t, fx.tree(t, nil), "a/b/data.bin", dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "data.bin"))
	if err != nil || !bytes.Equal(got, fx.w.Content("a/b/data.bin")) {
		t.Fatalf("data.bin: %v", err)
	}
	st, _ := os.Stat(filepath.Join(dir, "data.bin"))
	if m := fx.w.Manifest("a/b/data.bin"); st.Mode().Perm() != 0o640 || !st.ModTime().Equal(m.Mtime) {
		t.Errorf("attributes: %v %v", st.Mode(), st.ModTime())
	}
}

// failingStore fails every data GET after the first n.
type failingStore struct {
	remote.Store
	left atomic.Int64
}

func (s *failingStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "d/") && s.left.Add(-1) < 0 {
		return nil, errors.New("injected failure")
	}
	return s.Store.Get(ctx, key, off, length)
}

// TestGetResume: a get that fails half-way leaves a partial file that
// the next get completes, fetching only what is missing.
func TestGetResume(t *testing.T) {
	fx := newFixture(t)
	size := 40 * format.MaxFrameRaw
	fx.w.WriteFile("big", browsetest.Pattern(3, size), 0o644)
	dir := t.TempDir()
	fs := &failingStore{Store: fx.store}
	fs.left.Store(2) // two GETs of up to 8 MiB
	tr, err := browse.Open(context.Background(), fs, browse.Options{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := download.Get(context.Background(), tr, "", dir, download.Options{Parallel: 1}); !errors.Is(err, download.ErrFailed) {
		t.Fatalf("first get: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
		t.Fatalf("an incomplete file was put in place: %v", err)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, ".syncfs-part-*"))
	if len(parts) != 1 {
		t.Fatalf("partial files: %q", parts)
	}
	res, err := fx.get(t, fx.tree(t, nil), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched >= int64(size) || res.Fetched < int64(size)/2 {
		t.Errorf("resumed get fetched %d of %d bytes", res.Fetched, size)
	}
	checkTree(t, fx.w, dir, []string{"big"})
}

// TestGetStaysInside: names and symlinks, from the remote or planted
// locally, never make get write outside the local directory.
func TestGetStaysInside(t *testing.T) {
	fx := newFixture(t)
	w := fx.w
	w.Symlink("escape", "/")
	w.WriteFile("dir/f", []byte("inside"), 0o644)
	w.WriteFile("g", []byte("inside too"), 0o644)
	w.PutDentry(format.RootID, "%2E.", format.Dentry{Kind: format.KindDir, ID: w.ID("dir"), Name: ".."})
	w.PutDentry(w.ID("dir"), "up%2Fx", format.Dentry{Kind: format.KindFile, ID: w.ID("g"), Name: "../x"})
	base := t.TempDir()
	dir := filepath.Join(base, "local")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "g"), []byte("precious"), 0o644)
	// Local symlinks where the remote has a directory and a file.
	os.Symlink(outside, filepath.Join(dir, "dir"))
	os.Symlink(filepath.Join(outside, "g"), filepath.Join(dir, "g"))

	if _, err := fx.get(t, fx.tree(t, nil), "", dir); err != nil {
		t.Fatalf("%v\n%s", err, fx.logs)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "g")); string(b) != "precious" {
		t.Errorf("the file outside was overwritten: %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("files appeared outside: %v", ents)
	}
	if st, err := os.Lstat(filepath.Join(dir, "dir")); err != nil || !st.IsDir() {
		t.Errorf("dir: %v, %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dir/f")); string(b) != "inside" {
		t.Errorf("dir/f: %q", b)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "escape")); target != "/" {
		t.Errorf("escape: %q", target)
	}
	if _, err := os.Stat(filepath.Join(base, "x")); err == nil {
		t.Errorf("../x was written")
	}
}

// TestGetBroken: a file that fails its checks is not put in place; the
// rest of the tree is copied; the error says how many failed.
func TestGetBroken(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(w *browsetest.Writer)
	}{
		{"frame checksum", func(w *browsetest.Writer) { w.CorruptFrame("bad", w.Extents("bad")[1]) }},
		{"block hash", func(w *browsetest.Writer) {
			m := w.Manifest("bad")
			seg := w.Segment("bad", 0)
			seg.Hashes[3][0] ^= 1
			m.Segments[0].CRC = w.PutSegment(w.ID("bad"), 0, m.Segments[0].Version, seg)
			m.Segments[0].Digest = seg.Digest()
			m.SetDigest()
			w.PutManifest(w.ID("bad"), m)
		}},
		{"segment digest", func(w *browsetest.Writer) {
			m := w.Manifest("bad")
			m.Segments[0].Digest[0] ^= 1
			w.PutManifest(w.ID("bad"), m)
		}},
		{"file digest", func(w *browsetest.Writer) {
			m := w.Manifest("bad")
			m.Digest[0] ^= 1
			w.PutManifest(w.ID("bad"), m)
		}},
		{"missing object", func(w *browsetest.Writer) {
			w.DeleteKey(format.DataKey(w.ID("bad"), w.Extents("bad")[0].Seq))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.w.WriteFile("bad", browsetest.Pattern(1, 3*format.MaxFrameRaw), 0o644)
			fx.w.WriteFile("good", []byte("good"), 0o644)
			c.damage(fx.w)
			dir := t.TempDir()
			res, err := fx.get(t, fx.tree(t, nil), "", dir)
			if !errors.Is(err, download.ErrFailed) || res.Failed != 1 {
				t.Fatalf("%+v, %v", res, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
				t.Errorf("bad file put in place: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "good")); string(b) != "good" {
				t.Errorf("good: %q", b)
			}
			if !strings.Contains(fx.logs.String(), "bad: ") {
				t.Errorf("log: %q", fx.logs)
			}
			t.Log(strings.TrimSpace(fx.logs.String()))
		})
	}
}
