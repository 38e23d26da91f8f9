package browse_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/format"
)

const blk = format.BlockSize

func TestReadBack(t *testing.T) {
	fx := newFixture(t, nil)
	files := fx.w.WriteVariety(true)
	tr := fx.open(t, browse.Options{})
	ctx := context.Background()
	for _, p := range files {
		want := fx.w.Content(p)
		got := readAll(t, tr, p)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes, want %d; first difference at %d", p, len(got), len(want), firstDiff(got, want))
		}
		e, _ := tr.Resolve(ctx, p)
		f, _ := tr.OpenFile(ctx, e.ID)
		r := rand.New(rand.NewPCG(uint64(len(p)), 1))
		views := 0
		defer func() { t.Logf("%s: %d reads answered by View", p, views) }()
		for i := 0; i < 50 && len(want) > 0; i++ {
			off := r.Int64N(int64(len(want)) + 10)
			buf := make([]byte, r.IntN(3*blk)+1)
			n, err := f.ReadAt(ctx, buf, off)
			wantN := max(0, min(len(buf), len(want)-int(off)))
			if n != wantN || (n < len(buf) && err != io.EOF) || (n == len(buf) && err != nil) {
				t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v; want %d", p, len(buf), off, n, err, wantN)
			}
			if n > 0 && !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
				t.Fatalf("%s: ReadAt(%d at %d): wrong bytes", p, len(buf), off)
			}
			if v, err := f.View(ctx, off, len(buf)); err != nil || (v != nil && !bytes.Equal(v, want[off:off+int64(len(buf))])) {
				t.Fatalf("%s: View(%d at %d): %v", p, len(buf), off, err)
			} else if v != nil {
				views++
			}
		}
	}
	if l := fx.logs.Lines(); len(l) != 0 {
		t.Errorf("reading a sound tree logged: %q", l)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReadFetchesOnlyWhatCovers: a small read of a big file costs one
// segment manifest and one ranged GET of the one frame, not the file.
func TestReadFetchesOnlyWhatCovers(t *testing.T) {
	fx := newFixture(t, nil)
	fx.w.WriteFile("big", patterned(1, 20*format.MaxFrameRaw), 0o644)
	tr := fx.open(t, browse.Options{})
	ctx := context.Background()
	e, _ := tr.Resolve(ctx, "big")
	f, err := tr.OpenFile(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	gets, bytesBefore := fx.store.Gets.Load(), fx.store.GetBytes.Load()
	buf := make([]byte, 100)
	if _, err := f.ReadAt(ctx, buf, 5*format.MaxFrameRaw+1000); err != nil {
		t.Fatal(err)
	}
	if n := fx.store.Gets.Load() - gets; n != 2 {
		t.Errorf("%d GETs for a 100-byte read, want 2 (segment manifest, one frame)", n)
	}
	if n := fx.store.GetBytes.Load() - bytesBefore; n > 2*format.MaxFrameRaw {
		t.Errorf("read %d bytes from the store for a 100-byte read", n)
	}
	// Adjacent frames of one object come in one GET.
	gets = fx.store.Gets.Load()
	buf = make([]byte, 6*format.MaxFrameRaw)
	if _, err := f.ReadAt(ctx, buf, 8*format.MaxFrameRaw); err != nil {
		t.Fatal(err)
	}
	if n := fx.store.Gets.Load() - gets; n > 2 { // frames 8..13 span objects 1 and 2 (8 MiB each)
		t.Errorf("%d GETs for 6 adjacent frames in two objects", n)
	}
}

// TestVersionsNeverMix commits versions whose bytes differ everywhere
// (every byte of version v is v) while readers read random ranges, with
// the writer deleting superseded objects right after each commit: every
// read must be all one version.
func TestVersionsNeverMix(t *testing.T) {
	fx := newFixture(t, nil)
	const size = 5*format.MaxFrameRaw + 3*blk
	fx.w.FrameBlocks, fx.w.ObjectRaw = 2, 4*blk // many frames and objects to lose
	fx.w.WriteFile("live", bytes.Repeat([]byte{1}, size), 0o644)
	tr := fx.open(t, browse.Options{MemCache: 1 << 20})
	ctx := context.Background()
	id := fx.w.ID("live")

	stop := make(chan struct{})
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			buf := make([]byte, 3*blk+11)
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				off := r.Int64N(size - int64(len(buf)))
				n, err := tr.ReadAt(ctx, id, buf, off)
				if err != nil {
					done <- err
					return
				}
				for i := 1; i < n; i++ {
					if buf[i] != buf[0] {
						done <- errors.New("a read mixed two versions")
						return
					}
				}
			}
		}(g)
	}
	for v := 2; v <= 40; v++ {
		fx.w.WriteFile("live", bytes.Repeat([]byte{byte(v)}, size), 0o644)
	}
	close(stop)
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestStale: a File keeps its version; once the writer deletes what that
// version refers to, its reads fail with ErrStale, and Follow moves on.
func TestStale(t *testing.T) {
	fx := newFixture(t, nil)
	fx.w.KeepGarbage = true
	fx.w.WriteFile("f", bytes.Repeat([]byte("a"), 20*blk), 0o644) // two frames
	tr := fx.open(t, browse.Options{MemCache: 1})
	ctx := context.Background()
	old, err := tr.OpenFile(ctx, fx.w.ID("f"))
	if err != nil {
		t.Fatal(err)
	}
	fx.w.WriteFile("f", bytes.Repeat([]byte("b"), 20*blk), 0o644)
	buf := make([]byte, 10)
	if _, err := old.ReadAt(ctx, buf, 0); err != nil || string(buf) != "aaaaaaaaaa" {
		t.Fatalf("old version before GC: %q, %v", buf, err)
	}
	fx.w.CollectGarbage()
	if _, err := old.ReadAt(ctx, buf, 18*blk); !errors.Is(err, browse.ErrStale) {
		t.Fatalf("old version after GC: %v, want ErrStale", err)
	}
	f, err := tr.Follow(ctx, old, func(f *browse.File) error {
		_, err := f.ReadAt(ctx, buf, 18*blk)
		return err
	})
	if err != nil || string(buf) != "bbbbbbbbbb" || f.Manifest().Version != old.Manifest().Version+1 {
		t.Fatalf("Follow: %q, %v", buf, err)
	}
}

// TestSmallReadsFromDiskCache: once a file is in the disk cache, small
// reads through a fresh tree (nothing in memory) read only their blocks
// from it and fetch nothing.
func TestSmallReadsFromDiskCache(t *testing.T) {
	fx := newFixture(t, nil)
	want := patterned(4, 5*format.MaxFrameRaw+77)
	fx.w.WriteFile("f", want, 0o644)
	c, err := cache.Open(t.TempDir(), 1<<30, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	id := fx.w.ID("f")
	readAll(t, fx.open(t, browse.Options{Cache: c}), "f")
	c.Flush()
	tr := fx.open(t, browse.Options{Cache: c, MemCache: 1})
	f, _ := tr.OpenFile(ctx, id)
	gets := fx.store.DataGets.Load()
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 200; i++ {
		buf := make([]byte, r.IntN(20000)+1)
		off := r.Int64N(int64(len(want) - len(buf)))
		if _, err := f.ReadAt(ctx, buf, off); err != nil || !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
			t.Fatalf("read %d at %d: %v", len(buf), off, err)
		}
	}
	if n := fx.store.DataGets.Load() - gets; n != 0 {
		t.Errorf("%d data GETs for reads the disk cache holds", n)
	}
}
