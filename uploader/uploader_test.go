package uploader

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

func fieldBytes(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	for i := 0; i+4 <= n; i += 4 {
		v := float32(math.Sin(float64(i)/40000)*100 + rng.NormFloat64()*0.01)
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(v))
	}
	return b
}

func TestShipAndReadBack(t *testing.T) {
	r := newRig(t, nil, Config{})
	id := r.create("job.odb")
	data := fieldBytes(3*format.SegmentSize/2+12345, 1) // 1.5 segments, odd tail
	r.write(id, "job.odb", 0, data)
	r.flush()
	mustEqual(t, "first upload", readBack(t, r.store, id), data)
	if got := joined(dentryNames(t, r.store, journal.RootID)); got != "job.odb:file" {
		t.Fatalf("root lists %q", got)
	}
	if sent, up := r.u.Stats().SentBytes.Load(), r.u.Stats().UploadedBytes.Load(); sent >= up {
		t.Errorf("float32 fields did not compress: sent %d of %d", sent, up)
	}
}

// TestRewriteShipsOnlyTheRegions is the ABAQUS case: a file fully shipped,
// then rewritten in a few small regions far from its end; the next commit
// reads the blocks around those regions (to rehash them) and ships the
// regions rounded to pages (format 2) or blocks (format 1), nothing else.
func TestRewriteShipsOnlyTheRegions(t *testing.T) {
	// 4096 -> 1 page in 1 block; 100 -> 1 page in 1 block; 70000 bytes at
	// +5 -> 18 pages in 2 blocks.
	t.Run("format2", func(t *testing.T) { testRewriteShipsOnlyTheRegions(t, format.Version2, 20*format.PageSize) })
	t.Run("format1", func(t *testing.T) { testRewriteShipsOnlyTheRegions(t, format.Version, 4*format.BlockSize) })
}

func testRewriteShipsOnlyTheRegions(t *testing.T, version int, wantBytes int64) {
	r := newRig(t, nil, Config{Format: version})
	id := r.create("job.odb")
	data := fieldBytes(200<<20, 2)
	r.write(id, "job.odb", 0, data)
	r.flush()
	st := r.u.Stats()
	up0, read0 := st.UploadedBytes.Load(), st.ReadBytes.Load()
	for _, w := range []struct{ off, n int64 }{{0, 4096}, {17 << 20, 100}, {90<<20 + 5, 70000}} {
		patch := make([]byte, w.n)
		rand.Read(patch)
		r.write(id, "job.odb", w.off, patch)
		copy(data[w.off:], patch)
	}
	r.flush()
	if got := st.UploadedBytes.Load() - up0; got != wantBytes {
		t.Errorf("second commit shipped %d file bytes, want %d", got, wantBytes)
	}
	if got, want := st.ReadBytes.Load()-read0, int64(4*format.BlockSize); got != want {
		t.Errorf("second commit read %d bytes from disk, want %d", got, want)
	}
	mustEqual(t, "after rewrite", readBack(t, r.store, id), data)
}

// TestWriteDuringUploadShipsAgain lands a write on a range between its
// claim and the read of it (invariant 2).
func TestWriteDuringUploadShipsAgain(t *testing.T) {
	var r *rig
	var id journal.ID
	hooked := false
	r = newRig(t, nil, Config{AfterClaim: func(claimed journal.ID) {
		if hooked || claimed != id {
			return
		}
		hooked = true
		r.write(id, "f", 1000, []byte("LATE WRITE"))
		r.j.Sync()
	}})
	id = r.create("f")
	r.write(id, "f", 0, fieldBytes(300000, 3))
	r.j.Sync()
	if err := r.u.commit(r.ctx, id); err != nil {
		t.Fatal(err)
	}
	st, _ := r.j.State()
	if len(st) != 1 || !st[0].Dirty.Contains(1000, 10) {
		t.Fatalf("the write that landed during the upload is not dirty: %+v", st)
	}
	r.flush()
	mustEqual(t, "after the second commit", readBack(t, r.store, id), r.local("f"))
}

func TestTruncateSparseAndGrow(t *testing.T) {
	r := newRig(t, nil, Config{})
	id := r.create("s")
	r.write(id, "s", 0, fieldBytes(3<<20, 4))
	r.write(id, "s", 150<<20, []byte("far away")) // sparse: a hole between
	r.flush()
	mustEqual(t, "sparse", readBack(t, r.store, id), r.local("s"))
	if read := r.u.Stats().ReadBytes.Load(); read > 8<<20 {
		t.Errorf("read %d bytes: the hole was read", read)
	}
	r.truncate(id, "s", 2<<20+7) // cut inside a block
	r.flush()
	mustEqual(t, "truncated down", readBack(t, r.store, id), r.local("s"))
	r.truncate(id, "s", 70<<20) // grow into a second segment
	r.write(id, "s", 69<<20, []byte("tail"))
	r.flush()
	mustEqual(t, "grown", readBack(t, r.store, id), r.local("s"))
	r.truncate(id, "s", 0)
	r.flush()
	mustEqual(t, "empty", readBack(t, r.store, id), nil)
}

// TestCompaction rewrites most of a shipped object many times: objects
// that became mostly dead are rewritten and deleted, and the store never
// holds more than a bounded multiple of the file.
func TestCompaction(t *testing.T) {
	r := newRig(t, nil, Config{})
	id := r.create("c")
	r.write(id, "c", 0, fieldBytes(8<<20, 5)) // one object
	r.flush()
	for i := 0; i < 10; i++ {
		// Rewrite 80% of it in 64 KiB pieces: its first object dies
		// down to 20% and must be compacted away.
		for off := int64(0); off < 8<<20*8/10; off += 64 << 10 {
			r.write(id, "c", off, fieldBytes(64<<10, int64(i*1000)+off))
		}
		r.flush()
		mustEqual(t, "after rewrites", readBack(t, r.store, id), r.local("c"))
	}
	var stored int64
	r.store.List(r.ctx, format.DataPrefix(format.ID(id)), func(o remote.ObjectInfo) error {
		stored += o.Size
		return nil
	})
	if stored > 3*(8<<20) {
		t.Errorf("store holds %d bytes for an 8 MiB file", stored)
	}
}

func TestNamespaceOps(t *testing.T) {
	r := newRig(t, nil, Config{})
	a := r.create("a")
	r.write(a, "a", 0, []byte("AAAA"))
	dir, _ := r.j.Create(journal.RootID, "d", journal.KindDir, "")
	os.Mkdir(filepath.Join(r.backing, "d"), 0o755)
	os.Symlink("a", filepath.Join(r.backing, "l"))
	r.j.Create(journal.RootID, "l", journal.KindSymlink, "a")
	r.flush()
	if got := joined(sortedNames(dentryNames(t, r.store, journal.RootID))); got != "a:file d:dir l:symlink" {
		t.Fatalf("root: %s", got)
	}
	// Rename across directories, then over another file.
	os.Rename(filepath.Join(r.backing, "a"), filepath.Join(r.backing, "d", "b"))
	r.j.Rename(journal.RootID, "a", dir, "b", false)
	c := r.create("c")
	r.write(c, "c", 0, []byte("CCCC"))
	r.flush()
	os.Rename(filepath.Join(r.backing, "c"), filepath.Join(r.backing, "d", "b"))
	r.j.Rename(journal.RootID, "c", dir, "b", false)
	r.flush()
	if got := joined(dentryNames(t, r.store, dir)); got != "b:file" {
		t.Fatalf("d: %s", got)
	}
	mustEqual(t, "renamed over", readBack(t, r.store, c), []byte("CCCC"))
	// The replaced inode is gone, objects and all.
	var left []string
	for _, p := range []string{"i/" + format.ID(a).String(), "d/" + format.ID(a).String()} {
		r.store.List(r.ctx, p, func(o remote.ObjectInfo) error { left = append(left, o.Key); return nil })
	}
	if len(left) > 0 {
		t.Fatalf("replaced inode left %v", left)
	}
	// Unlink.
	os.Remove(filepath.Join(r.backing, "d", "b"))
	r.j.Remove(dir, "b")
	r.flush()
	if got := dentryNames(t, r.store, dir); len(got) != 0 {
		t.Fatalf("d after unlink: %v", got)
	}
	if _, err := r.store.Stat(r.ctx, format.InodeKey(format.ID(c))); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("unlinked inode's manifest: %v", err)
	}
}

func sortedNames(s []string) []string { sort.Strings(s); return s }

func TestFlushFailsOnPermanentError(t *testing.T) {
	r := newRig(t, &permStore{Store: mem.New("mem")}, Config{})
	id := r.create("f")
	r.write(id, "f", 0, []byte("data"))
	r.j.Sync()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.u.Run(ctx)
	err := r.u.Flush(ctx, r.j.Gen())
	if !errors.Is(err, ErrRemoteRejects) {
		t.Fatalf("flush: %v, want ErrRemoteRejects", err)
	}
	st, _ := r.j.State()
	if len(st) != 1 || st[0].Dirty.Union(st[0].InFlight).Bytes() != 4 {
		t.Fatalf("the rejected data is no longer in the journal: %+v", st)
	}
}

// failingAcks is a journal whose acknowledgements and unclaims fail the
// first n times, as they do while the state disk is full.
type failingAcks struct {
	*journal.Journal
	mu sync.Mutex
	n  int
}

func (f *failingAcks) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return syscall.ENOSPC
	}
	return nil
}

func (f *failingAcks) Ack(c journal.Claim) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Journal.Ack(c)
}

func (f *failingAcks) AckShipped(c journal.Claim, s journal.Shipped) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Journal.AckShipped(c, s)
}

// TestAckRetriedWhenJournalRecovers: an upload whose acknowledgement
// cannot be committed (full state disk) is not left in flight for ever:
// the ack is retried until the journal takes it, the flush settles, and
// the error leaves status's list once resolved.
func TestAckRetriedWhenJournalRecovers(t *testing.T) {
	r := newRig(t, nil, Config{})
	fj := &failingAcks{Journal: r.j, n: 3}
	b, err := beneath.Open(r.backing)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	u, err := New(fj, r.store, b, Config{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	id := r.create("f")
	r.write(id, "f", 0, []byte("thirty bytes of pending data.."))
	r.j.Sync()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go u.Run(ctx)
	if err := u.Flush(ctx, r.j.Gen()); err != nil {
		t.Fatalf("flush after the journal recovered: %v", err)
	}
	mustEqual(t, "shipped", readBack(t, r.store, id), r.local("f"))
	if errs, _ := u.Errors(); len(errs) != 0 {
		t.Errorf("resolved errors stay listed: %+v", errs)
	}
	if fj.n != 0 {
		t.Errorf("%d failures left: the ack was not retried", fj.n)
	}
}

// putLog records the keys put to the store it wraps.
type putLog struct {
	remote.Store
	mu   sync.Mutex
	keys []string
}

func (p *putLog) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
	return p.Store.Put(ctx, key, body, size, opts)
}

// TestShortLivedFileShortcut: a file created and removed before its
// create was replayed (SQLite's -journal) costs no dentry put or delete;
// whatever of its inode was shipped meanwhile is deleted; a file that
// lives on, beside it, ships as usual.
func TestShortLivedFileShortcut(t *testing.T) {
	store := &putLog{Store: mem.New("mem")}
	r := newRig(t, store, Config{})
	keep := r.create("db")
	r.write(keep, "db", 0, []byte("pages"))
	tmp := r.create("db-journal")
	r.write(tmp, "db-journal", 0, []byte("rollback"))
	r.j.Sync()
	// Its data ships before its unlink is replayed (the inode commits run
	// beside the replay).
	if err := r.u.commit(r.ctx, tmp); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(r.backing, "db-journal"))
	r.j.Remove(journal.RootID, "db-journal")
	r.flush()
	for _, k := range store.keys {
		if k == format.DentryKey(format.RootID, "db-journal") {
			t.Errorf("the short-lived file's dentry was put")
		}
	}
	if n := r.u.Stats().Shortcuts.Load(); n != 1 {
		t.Errorf("%d shortcuts, want 1", n)
	}
	var left []string
	for _, p := range []string{"i/" + format.ID(tmp).String(), "d/" + format.ID(tmp).String()} {
		r.store.List(r.ctx, p, func(o remote.ObjectInfo) error { left = append(left, o.Key); return nil })
	}
	if len(left) > 0 {
		t.Errorf("the short-lived file left %v", left)
	}
	if got := joined(dentryNames(t, r.store, journal.RootID)); got != "db:file" {
		t.Errorf("root lists %q", got)
	}
	mustEqual(t, "db", readBack(t, r.store, keep), []byte("pages"))
}
