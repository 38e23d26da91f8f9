package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/file"
)

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fixture is a local tree, a file:// store and the records of one state.
type fixture struct {
	t     *testing.T
	dir   string
	store remote.Store
	recs  *Records
	ex    *exclude.Matcher
}

func newFixture(t *testing.T) *fixture {
	root := t.TempDir()
	st, err := file.New(filepath.Join(root, "remote"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "remote"), 0o755)
	recs, err := OpenRecords(filepath.Join(root, "publish.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recs.Close() })
	ex, _ := exclude.New([]string{"*.tmp"})
	f := &fixture{t: t, dir: filepath.Join(root, "tree"), store: st, recs: recs, ex: ex}
	os.MkdirAll(f.dir, 0o755)
	return f
}

func (f *fixture) publish() *Report {
	f.t.Helper()
	r, err := Run(context.Background(), Options{Dir: f.dir, Store: f.store, Prefix: Prefix, Records: f.recs, Exclude: f.ex})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(r.Errors) > 0 {
		f.t.Fatalf("publish errors: %v", r.Errors)
	}
	return r
}

// object reads the plain object of rel.
func (f *fixture) object(rel string) ([]byte, error) {
	rc, err := f.store.Get(context.Background(), Prefix+rel, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// same fails unless every file of the tree has an identical object and
// no object is left over.
func (f *fixture) same() {
	f.t.Helper()
	want := map[string]bool{}
	filepath.WalkDir(f.dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(f.dir, p)
		if d.Type().IsRegular() && !f.ex.Match(rel) {
			want[rel] = true
			local, _ := os.ReadFile(p)
			got, err := f.object(rel)
			if err != nil || !bytes.Equal(got, local) {
				f.t.Fatalf("%s: object differs from the file (%d bytes, %v; file %d bytes)", rel, len(got), err, len(local))
			}
		}
		return nil
	})
	f.store.List(context.Background(), Prefix, func(oi remote.ObjectInfo) error {
		if !want[oi.Key[len(Prefix):]] {
			f.t.Errorf("object %s has no file", oi.Key)
		}
		return nil
	})
}

func TestPublishFollowsChanges(t *testing.T) {
	f := newFixture(t)
	big := random(50<<20+12345, 1)
	write(t, filepath.Join(f.dir, "results/big.odb"), big)
	write(t, filepath.Join(f.dir, "results/log.txt"), []byte("step 1\n"))
	write(t, filepath.Join(f.dir, "empty"), nil)
	write(t, filepath.Join(f.dir, "scratch.tmp"), []byte("never published"))
	os.Symlink("results", filepath.Join(f.dir, "link"))
	mtime := time.Unix(1787934006, 123456789)
	os.Chtimes(filepath.Join(f.dir, "results/log.txt"), mtime, mtime)

	r := f.publish()
	if r.Published != 3 || r.BytesSent != int64(len(big))+7 || len(r.Skipped) != 1 {
		t.Fatalf("first publish: %+v", r)
	}
	f.same()
	// Metadata as rclone reads it: the file store keeps it as the file's
	// times and mode, and as user xattrs.
	obj := filepath.Join(filepath.Dir(f.dir), "remote", Prefix, "results/log.txt")
	if st, err := os.Stat(obj); err != nil || !st.ModTime().Equal(mtime) || st.Mode().Perm() != 0o640 {
		t.Errorf("object of log.txt: %v, mtime %v mode %v; want %v 0640", err, st.ModTime(), st.Mode(), mtime)
	}
	sum := sha256.Sum256([]byte("step 1\n"))
	if v, err := getxattr(obj, "user.sha256"); err == nil && v != hex.EncodeToString(sum[:]) {
		t.Errorf("user.sha256 = %q", v)
	}

	// Nothing changed: nothing read, nothing sent.
	if r := f.publish(); r.Unchanged != 3 || r.Published != 0 || r.BytesRead != 0 || r.BytesSent != 0 {
		t.Fatalf("publish of an unchanged tree: %+v", r)
	}

	// Two scattered 4 KiB rewrites, and an append: three blocks go again
	// (the last one grew), the rest is copied.
	fh, _ := os.OpenFile(filepath.Join(f.dir, "results/big.odb"), os.O_RDWR, 0)
	fh.WriteAt(random(4096, 2), 9<<20)
	fh.WriteAt(random(4096, 3), 41<<20)
	fh.WriteAt(random(1000, 4), int64(len(big)))
	fh.Close()
	r = f.publish()
	size := int64(len(big) + 1000)
	const bs = 256 << 10 // the file store's blocks: remote.PartSizer
	if r.Published != 1 || r.BytesSent != bs+bs+(size-200*bs) || r.BytesCopied != size-r.BytesSent {
		t.Fatalf("publish after scattered rewrites: %+v", r)
	}
	f.same()

	// A rename is a copy inside the store and a delete; a deleted file
	// loses its object; an excluded file never has one.
	os.Rename(filepath.Join(f.dir, "results/big.odb"), filepath.Join(f.dir, "results/final.odb"))
	os.Remove(filepath.Join(f.dir, "results/log.txt"))
	r = f.publish()
	if r.Renamed != 1 || r.BytesSent != 0 || r.Deleted != 2 {
		t.Fatalf("publish after a rename and a delete: %+v", r)
	}
	f.same()
}

// An object replaced behind publish's back is not copied from: its ETag
// no longer matches the record, and the whole file is sent.
func TestPublishObjectReplaced(t *testing.T) {
	f := newFixture(t)
	b := random(20<<20, 5)
	write(t, filepath.Join(f.dir, "a"), b)
	f.publish()
	if _, err := f.store.(remote.Composer).Compose(context.Background(), Prefix+"a", []remote.Part{{Body: bytes.NewReader([]byte("tampered")), Size: 8}}, nil); err != nil {
		t.Fatal(err)
	}
	fh, _ := os.OpenFile(filepath.Join(f.dir, "a"), os.O_RDWR, 0)
	fh.WriteAt([]byte("x"), 100)
	fh.Close()
	if r := f.publish(); r.BytesSent != int64(len(b)) {
		t.Fatalf("publish over a replaced object: %+v", r)
	}
	f.same()
}

func TestPartSize(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{0, 8 << 20}, {1 << 30, 8 << 20}, {80 << 30, 9 << 20}, {1 << 40, 105 << 20},
	} {
		got := PartSize(c.size)
		if got != c.want || (c.size+got-1)/got > remote.MaxParts {
			t.Errorf("PartSize(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// An object deleted behind publish's back is written again, though its
// file did not change.
func TestPublishObjectDeleted(t *testing.T) {
	f := newFixture(t)
	write(t, filepath.Join(f.dir, "a"), []byte("results"))
	f.publish()
	if err := f.store.Delete(context.Background(), Prefix+"a"); err != nil {
		t.Fatal(err)
	}
	if r := f.publish(); r.Published != 1 || r.Unchanged != 0 {
		t.Fatalf("publish after the object was deleted: %+v", r)
	}
	f.same()
}

// The S3 layout of a republish: parts cover the file in order, copies
// only over unchanged blocks, every part but the last at least 5 MiB and
// within S3's maximum, whatever the pattern of changes.
func TestSegments(t *testing.T) {
	const bs, minPart = 1 << 20, remote.MinPart
	r := rand.New(rand.NewPCG(9, 9))
	for round := 0; round < 2000; round++ {
		size := r.Int64N(300<<20) + 1
		nb := int((size + bs - 1) / bs)
		same := make([]bool, nb)
		density := r.Float64()
		for i := range same {
			same[i] = r.Float64() > density
		}
		ss := split(segments(size, bs, func(i int) bool { return same[i] }, minPart), minPart)
		off := int64(0)
		for k, s := range ss {
			if s.off != off || s.n <= 0 {
				t.Fatalf("round %d: part %d at %d+%d, want it at %d", round, k, s.off, s.n, off)
			}
			if k < len(ss)-1 && s.n < minPart {
				t.Fatalf("round %d: part %d of %d bytes, under the minimum", round, k, s.n)
			}
			if s.n > maxPart || (!s.copy && s.n > sendChunk+minPart) {
				t.Fatalf("round %d: part %d of %d bytes, over the maximum", round, k, s.n)
			}
			if s.copy {
				for i := s.off / bs; i <= (s.off+s.n-1)/bs; i++ {
					if !same[i] {
						t.Fatalf("round %d: part %d copies changed block %d", round, k, i)
					}
				}
			}
			off += s.n
		}
		if off != size {
			t.Fatalf("round %d: parts end at %d, the file at %d", round, off, size)
		}
	}
}
