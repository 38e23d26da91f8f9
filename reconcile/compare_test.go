package reconcile_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/reconcile"
	"github.com/syncfs/syncfs/remote/mem"
	"github.com/syncfs/syncfs/uploader"
)

// rig: a journal and a backing dir, an uploader shipping to a memory
// store, and a reconciler over them.
type rig struct {
	t       *testing.T
	backing string
	j       *journal.Journal
	up      *uploader.Uploader
	rec     *reconcile.Reconciler
}

func newRig(t *testing.T) *rig {
	dir := t.TempDir()
	r := &rig{t: t, backing: filepath.Join(dir, "backing")}
	os.Mkdir(r.backing, 0o755)
	j, err := journal.Open(filepath.Join(dir, "state"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := beneath.Open(r.backing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); j.Close() })
	quiet := log.New(io.Discard, "", 0)
	r.j = j
	if r.up, err = uploader.New(j, mem.New("mem"), b, uploader.Config{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.up.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ex, _ := exclude.New(nil)
	r.rec = reconcile.New(b, j, r.up, ex, quiet)
	return r
}

// flush ships everything journaled.
func (r *rig) flush() {
	r.t.Helper()
	if err := r.j.Sync(); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.up.Flush(ctx, r.j.Gen()); err != nil {
		r.t.Fatal(err)
	}
}

// dirty returns the journal's pending ranges of id and whether its
// attributes are pending.
func (r *rig) dirty(id journal.ID) (ranges.Set, bool) {
	st, err := r.j.State()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range st {
		if f.ID == id {
			return f.Dirty.Union(f.InFlight), f.AttrDirty
		}
	}
	return nil, false
}

// Writes made behind the journal's back to a shipped file are found block
// by block: exactly the blocks that differ become dirty, with a size and
// attribute change, and nothing else; after they ship, a second look finds
// nothing.
func TestCompareFindsChangedBlocks(t *testing.T) {
	r := newRig(t)
	const size = 3*format.BlockSize*4 + 1234 // 12 blocks and a tail
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	p := filepath.Join(r.backing, "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := r.j.Create(journal.RootID, "f", journal.KindFile, "")
	if err != nil {
		t.Fatal(err)
	}
	r.j.RecordWrite(id, 0, size)
	r.flush()
	if d, _ := r.dirty(id); len(d) != 0 {
		t.Fatalf("dirty after the flush: %v", d)
	}

	// Behind the journal: 100 bytes in block 3, 1 byte in block 7 (same
	// value written: no change), 10 bytes in block 10, an append, a chmod.
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 100), 3*format.BlockSize+500)
	f.WriteAt(data[7*format.BlockSize:7*format.BlockSize+1], 7*format.BlockSize)
	f.WriteAt([]byte("0123456789"), 10*format.BlockSize+format.BlockSize-5) // straddles 10 and 11
	f.WriteAt([]byte("appended"), size)
	f.Close()
	os.Chmod(p, 0o600)

	if err := r.rec.File(context.Background(), "f"); err != nil {
		t.Fatal(err)
	}
	got, attr := r.dirty(id)
	var want ranges.Set
	for _, b := range []int64{3, 10, 11} {
		want = want.Add(b*format.BlockSize, format.BlockSize)
	}
	want = want.Add(12*format.BlockSize, size+8-12*format.BlockSize)
	if fmt.Sprint(got) != fmt.Sprint(want) || !attr {
		t.Fatalf("dirty after the comparison: %v (attributes %v), want %v and attributes", got, attr, want)
	}
	if r.rec.Compared.Load() != 1 || r.rec.Changed.Load() != 1 || r.rec.ReadBytes.Load() < size {
		t.Errorf("counters: compared %d, changed %d, read %d", r.rec.Compared.Load(), r.rec.Changed.Load(), r.rec.ReadBytes.Load())
	}

	r.flush()
	// A touch changes the ctime only: compared again, nothing differs.
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, time.Now(), st.ModTime())
	if err := r.rec.File(context.Background(), "f"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.dirty(id); len(got) != 0 || r.rec.Compared.Load() != 2 || r.rec.Changed.Load() != 1 {
		t.Fatalf("second comparison: dirty %v, compared %d, changed %d; want one more comparison, nothing new", got, r.rec.Compared.Load(), r.rec.Changed.Load())
	}
}
