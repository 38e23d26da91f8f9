package uploader

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// TestScatteredPageRewrites is issue 15's test: a shipped file whose
// 1-8 KiB pieces are rewritten at random offsets, flushed now and then.
// After every flush the remote reads back as the local file, and the
// file bytes uploaded stay within 1.2x the page-rounded union of the
// rewrites (format 2 ships pages, not the 64 KiB blocks around them).
func TestScatteredPageRewrites(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := newRig(t, nil, Config{})
			rng := rand.New(rand.NewSource(seed))
			const size = 70 << 20 // two segments, the second partial
			id := r.create("db")
			r.write(id, "db", 0, fieldBytes(size, seed))
			r.flush()
			st := r.u.Stats()
			up0 := st.UploadedBytes.Load()
			var union ranges.Set
			for round := 0; round < 5; round++ {
				for k := 0; k < 60; k++ {
					n := rng.Int63n(8<<10) + 1<<10
					off := rng.Int63n(size - n)
					patch := make([]byte, n)
					rng.Read(patch)
					r.write(id, "db", off, patch)
					union = union.Add(off, n)
				}
				r.flush()
				mustEqual(t, fmt.Sprintf("round %d", round), readBack(t, r.store, id), r.local("db"))
			}
			pages := union.Align(format.PageSize, size).Bytes()
			up := st.UploadedBytes.Load() - up0
			t.Logf("rewrote %d bytes, %d in pages; uploaded %d (%.3fx)", union.Bytes(), pages, up, float64(up)/float64(pages))
			if float64(up) > 1.2*float64(pages) {
				t.Errorf("uploaded %d bytes for %d bytes of rewritten pages: more than 1.2x", up, pages)
			}
		})
	}
}

// TestExtentBound rewrites every other page of a 64 MiB segment, which
// would leave 8192 extents: the uploader keeps a segment at most
// maxExtents, shipping the most fragmented blocks whole, and the remote
// still reads back exactly.
func TestExtentBound(t *testing.T) {
	r := newRig(t, nil, Config{})
	id := r.create("f")
	r.write(id, "f", 0, fieldBytes(format.SegmentSize, 1))
	r.flush()
	up0 := r.u.Stats().UploadedBytes.Load()
	patch := fieldBytes(format.PageSize, 2)
	for off := int64(0); off < format.SegmentSize; off += 2 * format.PageSize {
		r.write(id, "f", off, patch)
	}
	r.flush()
	mustEqual(t, "after rewrite", readBack(t, r.store, id), r.local("f"))
	seg := shippedSegment(t, r, id, 0)
	if len(seg.Extents) > maxExtents {
		t.Fatalf("segment holds %d extents, bound is %d", len(seg.Extents), maxExtents)
	}
	// Half the pages were dirty; the bound may ship some clean ones with
	// them, never more than the segment.
	if up := r.u.Stats().UploadedBytes.Load() - up0; up < format.SegmentSize/2 || up > format.SegmentSize {
		t.Fatalf("uploaded %d bytes for %d dirty", up, format.SegmentSize/2)
	}
	t.Logf("%d extents, %d bytes uploaded", len(seg.Extents), r.u.Stats().UploadedBytes.Load()-up0)
}

// TestFormat1PrefixStaysFormat1 ships to a prefix made before format 2:
// its segments stay SFS1 with whole-block extents.
func TestFormat1PrefixStaysFormat1(t *testing.T) {
	r := newRig(t, nil, Config{Format: format.Version})
	id := r.create("f")
	r.write(id, "f", 0, fieldBytes(1<<20, 1))
	r.flush()
	r.write(id, "f", 5000, []byte("x"))
	r.flush()
	mustEqual(t, "format 1", readBack(t, r.store, id), r.local("f"))
	seg := shippedSegment(t, r, id, 0)
	if seg.Format != 0 {
		t.Fatalf("segment of a format-1 prefix is format %d", seg.Format)
	}
	for _, x := range seg.Extents {
		if x.Off%format.BlockSize != 0 {
			t.Fatalf("extent at %d in a format-1 segment", x.Off)
		}
	}
}

func shippedSegment(t *testing.T, r *rig, id journal.ID, idx int) *format.Segment {
	t.Helper()
	ctx := context.Background()
	b, err := remote.ReadAll(ctx, r.store, format.InodeKey(format.ID(id)), 1<<26)
	if err != nil {
		t.Fatal(err)
	}
	m, err := format.DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	ref := m.Segments[idx]
	sb, err := remote.ReadAll(ctx, r.store, format.SegmentKey(format.ID(id), uint32(idx), ref.Version), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s, err := format.DecodeSegment(sb, uint32(idx), ref.Version, m.Size)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWriteUnderPageCommit lands writes on a clean page of a block whose
// other page a commit ships, between the claim and the read: one
// recorded (journal RecordWrite after the claim) and one still under way
// (BeginWrite without its EndWrite). The block hashes are of what the
// commit read, so those pages must ship with it: readBack checks every
// block hash against the bytes the remote holds.
func TestWriteUnderPageCommit(t *testing.T) {
	for _, underWay := range []bool{false, true} {
		t.Run(fmt.Sprint("under way ", underWay), func(t *testing.T) {
			var r *rig
			var id journal.ID
			landed := false
			r = newRig(t, nil, Config{AfterClaim: func(journal.ID) {
				if landed {
					return
				}
				landed = true
				page := fieldBytes(format.PageSize, 9)
				if underWay {
					r.j.BeginWrite(id, 5*format.PageSize, format.PageSize)
					writeBacking(t, r, "f", 5*format.PageSize, page)
					return
				}
				r.write(id, "f", 5*format.PageSize, page)
			}})
			id = r.create("f")
			r.write(id, "f", 0, fieldBytes(1<<20, 1))
			landed = true // not on the first commit
			r.flush()
			landed = false
			r.write(id, "f", 2*format.PageSize, fieldBytes(100, 2))
			if err := r.j.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := r.u.commit(r.ctx, id); err != nil { // the write under it leaves id dirty
				t.Fatal(err)
			}
			mustEqual(t, "after the write under the commit", readBack(t, r.store, id), r.local("f"))
			if r.u.Stats().Touched.Load() == 0 {
				t.Fatal("no window was counted as touched")
			}
			if underWay {
				r.j.EndWrite(id, 5*format.PageSize, format.PageSize, format.PageSize)
			}
			r.flush()
			mustEqual(t, "after the next flush", readBack(t, r.store, id), r.local("f"))
		})
	}
}

// writeBacking writes the backing file without recording anything.
func writeBacking(t *testing.T, r *rig, name string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(r.backing, name), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}
