package journal

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/ranges"
)

// openTest opens a journal in a temp dir and checks its invariants when the
// test ends, like bbolt's btesting helpers.
func openTest(t *testing.T, dir string) *Journal {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	j, err := Open(dir, Options{Holder: "test " + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Check(); err != nil && !errors.Is(err, errClosed) {
			t.Errorf("journal invariant: %v", err)
		}
		j.Close()
	})
	return j
}

func mustCheck(t *testing.T, j *Journal) {
	t.Helper()
	j.Sync() // queued namespace ops (async.go) first
	if err := j.Check(); err != nil {
		t.Fatalf("journal invariant: %v", err)
	}
}

func TestNamespace(t *testing.T) {
	j := openTest(t, "")
	dir, err := j.Create(RootID, "results", KindDir, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := j.Create(dir, "job.odb", KindFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if id, kind, ok := j.Lookup(dir, "job.odb"); !ok || id != f || kind != KindFile {
		t.Fatalf("Lookup = %v %v %v", id, kind, ok)
	}
	// Namespace ops are queued (async.go): Lookup sees them at once,
	// the committed state after a commit.
	j.Sync()
	if p, _ := j.Path(f); p != "results/job.odb" {
		t.Fatalf("Path = %q", p)
	}
	// Rename keeps the ID.
	if err := j.Rename(dir, "job.odb", RootID, "final.odb", false); err != nil {
		t.Fatal(err)
	}
	if id, _, ok := j.Lookup(RootID, "final.odb"); !ok || id != f {
		t.Fatalf("after rename Lookup = %v %v", id, ok)
	}
	if _, _, ok := j.Lookup(dir, "job.odb"); ok {
		t.Fatal("old name still there")
	}
	j.Sync()
	if p, _ := j.Path(f); p != "final.odb" {
		t.Fatalf("Path after rename = %q", p)
	}
	// Hard link, then unlink the name Path used: Path moves to the other.
	if err := j.Link(f, dir, "link.odb"); err != nil {
		t.Fatal(err)
	}
	if err := j.Remove(RootID, "final.odb"); err != nil {
		t.Fatal(err)
	}
	j.Sync()
	if p, _ := j.Path(f); p != "results/link.odb" {
		t.Fatalf("Path after unlinking first name = %q", p)
	}
	mustCheck(t, j)
	// Rename over an existing file kills it.
	g, _ := j.Create(dir, "tmp", KindFile, "")
	j.RecordWrite(g, 0, 100)
	if err := j.Rename(dir, "tmp", dir, "link.odb", false); err != nil {
		t.Fatal(err)
	}
	j.Sync()
	if _, err := j.Path(f); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced inode still alive: %v", err)
	}
	mustCheck(t, j)

	ops, _ := j.Ops(0, 100)
	var types []string
	for _, op := range ops {
		types = append(types, op.Type.String())
	}
	want := "create create rename link unlink create rename"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("ops = %s, want %s", got, want)
	}
	last := ops[len(ops)-1]
	if last.Replaced != f || !last.Dead {
		t.Fatalf("rename over: Replaced=%v Dead=%v, want %v true", last.Replaced, last.Dead, f)
	}
	for i := 1; i < len(ops); i++ {
		if ops[i].Seq <= ops[i-1].Seq {
			t.Fatal("ops out of order")
		}
	}
	if err := j.AckOps(ops[2].Seq); err != nil {
		t.Fatal(err)
	}
	if ops2, _ := j.Ops(0, 100); len(ops2) != len(ops)-3 {
		t.Fatalf("after AckOps %d ops remain, want %d", len(ops2), len(ops)-3)
	}
}

func TestExchangeAndRenameSameFile(t *testing.T) {
	j := openTest(t, "")
	a, _ := j.Create(RootID, "a", KindFile, "")
	b, _ := j.Create(RootID, "b", KindDir, "")
	if err := j.Rename(RootID, "a", RootID, "b", true); err != nil {
		t.Fatal(err)
	}
	if id, kind, _ := j.Lookup(RootID, "a"); id != b || kind != KindDir {
		t.Fatalf("a -> %v %v", id, kind)
	}
	if id, _, _ := j.Lookup(RootID, "b"); id != a {
		t.Fatalf("b -> %v", id)
	}
	mustCheck(t, j)
	// Renaming one name of a file onto another of its names does nothing.
	j.Link(a, RootID, "b2")
	if err := j.Rename(RootID, "b", RootID, "b2", false); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := j.Lookup(RootID, "b"); !ok {
		t.Fatal("rename between two names of one file removed a name")
	}
	mustCheck(t, j)
}

func TestClaimAck(t *testing.T) {
	j := openTest(t, "")
	f, _ := j.Create(RootID, "f", KindFile, "")
	j.RecordWrite(f, 0, 4096)
	j.RecordWrite(f, 8192, 4096)
	j.RecordWrite(f, 4096, 10) // merges with the first
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	c, ok, err := j.Claim(f)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := set(0, 4106, 8192, 4096)
	if !reflect.DeepEqual(c.Ranges, want) || !c.AttrDirty {
		t.Fatalf("claim = %v attr %v, want %v", c.Ranges, c.AttrDirty, want)
	}
	if _, _, err := j.Claim(f); !errors.Is(err, ErrClaimed) {
		t.Fatalf("second claim: %v", err)
	}
	// A write after the claim, over a claimed range, stays dirty after Ack.
	j.RecordWrite(f, 100, 10)
	j.Sync()
	if err := j.Ack(c); err != nil {
		t.Fatal(err)
	}
	st, _ := j.State()
	if len(st) != 1 || !reflect.DeepEqual(st[0].Dirty, set(100, 10)) || st[0].Claimed {
		t.Fatalf("state after ack = %+v", st)
	}
	// Unclaim returns everything.
	c2, _, _ := j.Claim(f)
	j.RecordWrite(f, 5000, 1)
	j.Sync()
	if err := j.Unclaim(c2); err != nil {
		t.Fatal(err)
	}
	st, _ = j.State()
	if !reflect.DeepEqual(st[0].Dirty, set(100, 10, 5000, 1)) {
		t.Fatalf("after unclaim dirty = %v", st[0].Dirty)
	}
}

func TestTruncateKeepsLaterWrites(t *testing.T) {
	j := openTest(t, "")
	f, _ := j.Create(RootID, "f", KindFile, "")
	j.RecordWrite(f, 0, 1000)
	if err := j.Truncate(f, 1000, 10); err != nil {
		t.Fatal(err)
	}
	j.RecordWrite(f, 500, 100) // after the truncate: must survive it
	if err := j.Truncate(f, 600, 700); err != nil {
		t.Fatal(err)
	}
	j.Sync()
	st, _ := j.State()
	want := set(0, 10, 500, 200)
	if !reflect.DeepEqual(st[0].Dirty, want) || !st[0].AttrDirty {
		t.Fatalf("dirty = %v, want %v", st[0].Dirty, want)
	}
}

func TestSettledBarrier(t *testing.T) {
	j := openTest(t, "")
	f, _ := j.Create(RootID, "f", KindFile, "")
	j.Sync()
	ops, _ := j.Ops(0, 10)
	j.AckOps(ops[len(ops)-1].Seq)
	j.RecordWrite(f, 0, 10)
	barrier := j.Gen()
	if ok, _ := j.Settled(barrier); ok {
		t.Fatal("settled with a write in memory")
	}
	j.Sync()
	c, _, _ := j.Claim(f)
	j.RecordWrite(f, 20, 10) // after the barrier
	if ok, _ := j.Settled(barrier); ok {
		t.Fatal("settled with a claim in flight")
	}
	j.Ack(c)
	if ok, err := j.Settled(barrier); !ok || err != nil {
		t.Fatalf("not settled after ack: %v", err)
	}
	if ok, _ := j.Settled(j.Gen()); ok {
		t.Fatal("new write counted as settled")
	}
}

func TestReopenRequeuesInFlight(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := j.Create(RootID, "f", KindFile, "")
	j.RecordWrite(f, 0, 10)
	j.Sync()
	j.Claim(f) // never acknowledged: the daemon "dies"
	j.RecordWrite(f, 50, 10)
	if err := j.OpenForWrite(f); err != nil {
		t.Fatal(err)
	}
	gen := j.Gen()
	j.Close()

	j = openTest(t, dir)
	st, _ := j.State()
	if len(st) != 1 || !reflect.DeepEqual(st[0].Dirty, set(0, 10, 50, 10)) || st[0].Claimed || !st[0].OpenWrite {
		t.Fatalf("state after reopen = %+v", st)
	}
	if j.Gen() < gen {
		t.Fatalf("generation went back: %d < %d", j.Gen(), gen)
	}
	if id, _, ok := j.Lookup(RootID, "f"); !ok || id != f {
		t.Fatal("namespace lost")
	}
}

func TestOpenMarks(t *testing.T) {
	j := openTest(t, "")
	f, _ := j.Create(RootID, "f", KindFile, "")
	j.OpenForWrite(f)
	j.OpenForWrite(f)
	j.ReleaseWrite(f)
	j.Sync()
	if m, _ := j.OpenMarks(); len(m) != 1 {
		t.Fatalf("marks = %v, want one while a handle is open", m)
	}
	j.ReleaseWrite(f)
	j.Sync()
	if m, _ := j.OpenMarks(); len(m) != 0 {
		t.Fatalf("marks = %v after last release", m)
	}
}

// TestReleaseAll: at a clean unmount the marks of handles whose RELEASE
// the kernel dropped are cleared, and the writes before them kept.
func TestReleaseAll(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := j.Create(RootID, "f", KindFile, "")
	g, _ := j.Create(RootID, "g", KindFile, "")
	j.OpenForWrite(f)
	j.OpenForWrite(f)
	j.OpenForWrite(g)
	j.RecordWrite(f, 0, 10)
	j.ReleaseAll()
	j.Close()

	j = openTest(t, dir)
	if m, _ := j.OpenMarks(); len(m) != 0 {
		t.Fatalf("marks = %v after ReleaseAll", m)
	}
	st, _ := j.State()
	for _, s := range st {
		if s.ID == f && !reflect.DeepEqual(s.Dirty, set(0, 10)) {
			t.Fatalf("dirty = %v, want the write before ReleaseAll", s.Dirty)
		}
	}
}

func TestSecondOpenNamesHolder(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{Holder: "syncfs pid 4242 mount /scratch/job"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid 4242 mount /scratch/job") {
		t.Fatalf("second open: %v", err)
	}
}

func TestCorruptJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		j.Create(RootID, strings.Repeat("x", i+1), KindFile, "")
	}
	j.Close()
	path := filepath.Join(dir, "journal.db")
	b, _ := os.ReadFile(path)
	detected := 0
	for _, damage := range []func([]byte){
		func(b []byte) { copy(b[0:], make([]byte, 8192)) },           // both meta pages
		func(b []byte) { copy(b[8192:], make([]byte, len(b)-8192)) }, // data pages
		func(b []byte) {
			for i := 8192; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
		},
	} {
		c := append([]byte(nil), b...)
		damage(c)
		os.WriteFile(path, c, 0o600)
		j, err := Open(dir, Options{})
		if err == nil {
			// Damage bbolt cannot see must still leave a consistent journal.
			if cerr := j.Check(); cerr == nil {
				j.Close()
				continue
			}
			j.Close()
			t.Fatal("corrupt journal opened without error")
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "move it aside") {
			t.Fatalf("corrupt journal: %v", err)
		}
		// The user gets what to do, not bbolt's internals.
		for _, internal := range []string{"panic", "goroutine", "page", "freelist", "invalid"} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("the message shows bbolt's internals (%q): %v", internal, err)
			}
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Detail == "" {
			t.Errorf("no detail for the log: %#v", err)
		}
		t.Logf("detected: %v", err)
		detected++
	}
	if detected < 2 {
		t.Fatalf("only %d of 3 kinds of damage detected", detected)
	}
}

// TestGroupCommit checks that concurrent fsyncs share commits.
func TestGroupCommit(t *testing.T) {
	j := openTest(t, "")
	f, _ := j.Create(RootID, "f", KindFile, "")
	before := j.Commits()
	var wg sync.WaitGroup
	const writers, each = 32, 50
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				j.RecordWrite(f, int64(w*each+i)*10, 5)
				if err := j.SyncFile(f); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	n := j.Commits() - before
	if n >= writers*each/2 {
		t.Fatalf("%d commits for %d fsyncs: not grouped", n, writers*each)
	}
	// What SyncFile returned for must be in the file, not only in
	// memory (State would count those too): open a copy of the journal
	// file as it is on disk now.
	b, err := os.ReadFile(filepath.Join(j.Dir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "journal.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	copied := openTest(t, dir)
	st, _ := copied.State()
	if len(st) != 1 || st[0].Dirty.Bytes() != writers*each*5 {
		t.Fatalf("the journal file holds %+v, want %d dirty bytes", st, writers*each*5)
	}
	t.Logf("%d fsyncs in %d commits", writers*each, n)
}

// set builds a range set from offset, length pairs.
func set(pairs ...int64) ranges.Set {
	var s ranges.Set
	for i := 0; i+1 < len(pairs); i += 2 {
		s = s.Add(pairs[i], pairs[i+1])
	}
	return s
}

// TestNoCommitPerOp: namespace ops and attribute changes of the mount do
// not wait for a commit of their own (journal/async.go, attrOp): the
// mount reads them at once (Lookup, State), a Sync makes them durable,
// in order, and the overlay is empty again after it.
func TestNoCommitPerOp(t *testing.T) {
	j := openTest(t, "")
	j.Sync()
	before := j.Commits()
	d, _ := j.Create(RootID, "d", KindDir, "")
	f, _ := j.CreateOpen(d, "tmp")
	j.RecordWrite(f, 0, 10)
	if err := j.Setattr(f); err != nil {
		t.Fatal(err)
	}
	if err := j.Rename(d, "tmp", d, "final", false); err != nil {
		t.Fatal(err)
	}
	g, _ := j.Create(d, "gone", KindFile, "")
	if err := j.Remove(d, "gone"); err != nil {
		t.Fatal(err)
	}
	if n := j.Commits() - before; n != 0 {
		t.Fatalf("%d commits for queued ops, want 0", n)
	}
	if id, _, ok := j.Lookup(d, "final"); !ok || id != f {
		t.Fatalf("Lookup of a queued rename: %v %v", id, ok)
	}
	if _, _, ok := j.Lookup(d, "tmp"); ok {
		t.Fatal("the old name of a queued rename is still there")
	}
	if _, _, ok := j.Lookup(d, "gone"); ok {
		t.Fatal("a queued unlink is not seen")
	}
	if st, _ := j.State(); len(st) != 1 || !st[0].AttrDirty {
		t.Fatalf("a queued attribute change is not in State: %+v", st)
	}
	j.Sync()
	if p, err := j.Path(f); err != nil || p != "d/final" {
		t.Fatalf("after the commit: Path %q, %v", p, err)
	}
	if _, err := j.Kind(g); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the unlinked inode: %v", err)
	}
	j.mu.Lock()
	left := len(j.ovl)
	j.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d overlay entries left after the commit", left)
	}
	ops, _ := j.Ops(0, 100)
	var types []string
	for _, op := range ops {
		types = append(types, op.Type.String())
	}
	if got := strings.Join(types, " "); got != "create create rename create unlink" {
		t.Fatalf("ops = %s", got)
	}
	mustCheck(t, j)
}

// A file created since the last commit has its path in State already
// (status shows it), from the queued op's name.
func TestStatePathOfQueuedCreate(t *testing.T) {
	j, err := Open(t.TempDir(), Options{CommitInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	dir, err := j.Create(RootID, "run", KindDir, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.Create(dir, "out.csv", KindFile, "")
	if err != nil {
		t.Fatal(err)
	}
	j.RecordWrite(id, 0, 10)
	st, err := j.State()
	if err != nil {
		t.Fatal(err)
	}
	if j.Commits() != 0 || len(st) != 1 || st[0].Path != "run/out.csv" {
		t.Fatalf("state before any commit (%d commits): %+v", j.Commits(), st)
	}
}
