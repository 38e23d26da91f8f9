package browse_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/internal/testenv"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

type fixture struct {
	w     *browsetest.Writer
	store *browsetest.Counting
	logs  *testenv.Buffer
}

func newFixture(t testing.TB, store remote.Store) *fixture {
	if store == nil {
		store = mem.New("mem://test")
	}
	c := &browsetest.Counting{Store: store}
	return &fixture{w: browsetest.New(t, c), store: c, logs: &testenv.Buffer{}}
}

func (f *fixture) open(t testing.TB, opts browse.Options) *browse.Tree {
	t.Helper()
	opts.Logger = log.New(f.logs, "", 0)
	tr, err := browse.Open(context.Background(), f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func patterned(seed uint64, n int) []byte { return browsetest.Pattern(seed, n) }

func readAll(t testing.TB, tr *browse.Tree, path string) []byte {
	t.Helper()
	ctx := context.Background()
	e, err := tr.Resolve(ctx, path)
	if err != nil {
		t.Fatalf("resolve %s: %v", path, err)
	}
	f, err := tr.OpenFile(ctx, e.ID)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(ctx, &buf, 0, f.Size(), 4); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return buf.Bytes()
}

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }
