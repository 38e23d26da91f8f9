package download_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/browse/download"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote/mem"
)

// FuzzWalk plants dentries chosen by the fuzzer between the directories
// of a small sound tree (so that they may form cycles, point at the root,
// or alias one directory under two names) and copies the tree with get:
// it must finish, enter each directory at most once, and fail (not
// succeed silently) whenever it refused to enter one. (A dentry naming
// the root is left out by ReadDir with a log line, as ls does.) Corpus:
// testdata/fuzz/FuzzWalk.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{3, 1})          // d3 -> d1: a cycle below the root
	f.Add([]byte{0, 0})          // the root inside itself
	f.Add([]byte{1, 2, 2, 1})    // d1 <-> d2
	f.Add([]byte{2, 3, 0, 3, 3}) // an alias, then a self-loop
	f.Fuzz(func(t *testing.T, edges []byte) {
		if len(edges) > 16 {
			edges = edges[:16]
		}
		store := mem.New("mem://walk")
		w := browsetest.New(t, store)
		dirs := []format.ID{format.RootID}
		for _, p := range []string{"d1", "d1/d2", "d1/d2/d3"} {
			w.MkdirAll(p)
			dirs = append(dirs, w.ID(p))
		}
		w.WriteFile("d1/d2/d3/f", []byte("leaf"), 0o644)
		planted := 0
		for i := 0; i+1 < len(edges); i += 2 {
			from, to := dirs[int(edges[i])%len(dirs)], dirs[int(edges[i+1])%len(dirs)]
			name := fmt.Sprintf("x%d", i)
			w.PutDentry(from, name, format.Dentry{Kind: format.KindDir, ID: to, Name: name})
			if to != format.RootID { // ReadDir itself leaves those out (and logs them)
				planted++
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr, err := browse.Open(ctx, store, browse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := download.Get(ctx, tr, "", t.TempDir(), download.Options{})
		if ctx.Err() != nil {
			t.Fatal("get did not finish")
		}
		if err != nil && !errors.Is(err, download.ErrFailed) {
			t.Fatalf("get: %v", err)
		}
		if res.Dirs > len(dirs) {
			t.Fatalf("entered %d directories of %d", res.Dirs, len(dirs))
		}
		if planted > 0 && err == nil {
			t.Fatalf("%d dentries alias directories and get reported no failure", planted)
		}
	})
}
