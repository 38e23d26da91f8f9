package browse_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/verify"
)

// A format-2 prefix (docs/format.md): a 4 KiB page patched over a shipped
// block, as a page-granular extent in an SFS2 segment manifest, reads back
// as the patched file, and verify finds it equal to the local copy.
func TestReadFormat2Prefix(t *testing.T) {
	f := newFixture(t, nil)
	w := f.w
	root := format.NewRoot(w.Journal) // format 2
	w.PutRaw(format.RootKey, root.Encode())
	data := patterned(7, 3*format.BlockSize+100)
	id := w.WriteFile("f", data, 0o644)

	// The patch: page 17 (inside block 1), as its own object and frame.
	const off = 17 * format.PageSize
	page := patterned(8, format.PageSize)
	copy(data[off:], page)
	comp, err := format.NewCompressor("")
	if err != nil {
		t.Fatal(err)
	}
	stored, codec := comp.Encode(nil, page)
	m := w.Manifest("f")
	seq := m.NextSeq
	m.NextSeq++
	w.PutRaw(format.DataKey(id, seq), stored)
	m.AddObject(format.Object{Seq: seq, Stored: int64(len(stored)), Raw: format.PageSize, Live: format.PageSize})
	seg := w.Segment("f", 0)
	seg.Format = format.Version2
	seg.Put(format.Extent{Off: off, Len: format.PageSize, Seq: seq, FrameLen: uint32(len(stored)), RawLen: format.PageSize, Codec: codec, CRC: format.CRC(page)})
	seg.Hashes[1] = format.BlockHash(data[format.BlockSize : 2*format.BlockSize])
	m.Version++
	seg.Version = m.Version
	m.Segments[0].Version = m.Version
	m.Segments[0].CRC = w.PutSegment(id, 0, m.Version, seg)
	m.Segments[0].Digest = seg.Digest()
	m.SetDigest()
	w.PutManifest(id, m)

	tr := f.open(t, browse.Options{})
	if tr.Root().Format != format.Version2 {
		t.Fatalf("root format %d", tr.Root().Format)
	}
	if got := readAll(t, tr, "f"); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the patched file", len(got))
	}
	file, err := tr.OpenFile(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := file.Segment(context.Background(), 0); err != nil || s.Format != format.Version2 || len(s.Extents) < 2 {
		t.Fatalf("segment as read: %+v, %v", s, err)
	}

	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Tree(context.Background(), tr, "", local, verify.Options{Deep: true})
	if err != nil || len(rep.Differences) > 0 || rep.Files != 1 {
		t.Fatalf("verify of the format-2 tree: %+v, %v", rep, err)
	}
}
