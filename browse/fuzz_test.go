package browse_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
)

// The decoders of package format reject malformed objects; these targets
// fuzz what browse adds on top: checks of well-formed manifests against
// each other (extents against the object table and object sizes, frames
// against their checksums) and of dentry names against their keys.
// Corpus: testdata/fuzz.

// FuzzReadExtents builds a file whose one segment manifest holds the
// extents the fuzzer chooses (sealed with valid checksums, so they reach
// the reader) over real data objects, and reads it: any outcome but a
// panic, a hang, or bytes that do not come from the frames is fine.
func FuzzReadExtents(f *testing.F) {
	comp, _ := format.NewCompressor("")
	raw := patterned(1, 2*format.BlockSize)
	stored, codec := comp.Encode(nil, raw)
	good := extentBytes(format.Extent{Off: 0, Len: uint32(len(raw)), Seq: 0, FrameOff: 0, FrameLen: uint32(len(stored)),
		RawLen: uint32(len(raw)), Codec: codec, CRC: format.CRC(raw)})
	f.Add(good, uint32(len(raw)), uint32(0), uint16(1000))
	f.Add(append(good, good...), uint32(3*format.BlockSize), uint32(100), uint16(60000))
	f.Fuzz(func(t *testing.T, ext []byte, size uint32, off uint32, n uint16) {
		size %= 4 * format.BlockSize
		var xs []format.Extent
		for len(ext) >= 41 && len(xs) < 8 {
			xs = append(xs, parseExtent(ext[:41]))
			ext = ext[41:]
		}
		store := mem.New("mem://fuzz")
		ctx := context.Background()
		put := func(key string, b []byte) {
			store.Put(ctx, key, bytesReader(b), int64(len(b)), remote.PutOptions{})
		}
		root := format.NewRoot("fuzz")
		put(format.RootKey, root.Encode())
		const id = format.ID(2)
		put(format.DataKey(id, 0), stored)
		put(format.DataKey(id, 1), append(append([]byte(nil), stored...), stored...))
		seg := format.ZeroSegment(0, int64(size))
		seg.Version = 1
		seg.Extents = xs
		body := seg.Encode()
		put(format.SegmentKey(id, 0, 1), body)
		m := &format.Manifest{Version: 1, Kind: format.KindFile, Mode: 0o644, Size: int64(size), NextSeq: 2,
			Mtime: time.Unix(0, 0),
			Objects: []format.Object{{Seq: 0, Stored: int64(len(stored)), Raw: int64(len(raw)), Live: 1},
				{Seq: 1, Stored: 2 * int64(len(stored)), Raw: 2 * int64(len(raw)), Live: 1}}}
		if size > 0 {
			m.Segments = []format.SegmentRef{{Version: 1, CRC: format.CRC(body)}}
		}
		put(format.InodeKey(id), m.Encode())

		tr, err := browse.Open(ctx, store, browse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		got, err := tr.ReadAt(ctx, id, buf, int64(off))
		if err != nil && err != io.EOF && !errors.Is(err, browse.ErrCorrupt) {
			t.Fatalf("unexpected error class: %v", err)
		}
		if got > len(buf) {
			t.Fatalf("read %d bytes into %d", got, len(buf))
		}
	})
}

func extentBytes(x format.Extent) []byte {
	b := make([]byte, 0, 41)
	b = binary.LittleEndian.AppendUint32(b, x.Off)
	b = binary.LittleEndian.AppendUint32(b, x.Len)
	b = binary.LittleEndian.AppendUint64(b, x.Seq)
	b = binary.LittleEndian.AppendUint64(b, x.FrameOff)
	b = binary.LittleEndian.AppendUint32(b, x.FrameLen)
	b = binary.LittleEndian.AppendUint32(b, x.RawLen)
	b = binary.LittleEndian.AppendUint32(b, x.Skip)
	b = append(b, byte(x.Codec))
	return binary.LittleEndian.AppendUint32(b, x.CRC)
}

func parseExtent(b []byte) format.Extent {
	le := binary.LittleEndian
	return format.Extent{Off: le.Uint32(b), Len: le.Uint32(b[4:]), Seq: le.Uint64(b[8:]), FrameOff: le.Uint64(b[16:]),
		FrameLen: le.Uint32(b[24:]), RawLen: le.Uint32(b[28:]), Skip: le.Uint32(b[32:]), Codec: format.Codec(b[36]), CRC: le.Uint32(b[37:])}
}

// FuzzReadDir stores a dentry body under a key component the fuzzer
// chooses: a listing either leaves it out or lists a name that is safe
// and is the one the key was made from.
func FuzzReadDir(f *testing.F) {
	f.Add("job.odb", format.Dentry{Kind: format.KindFile, ID: 5, Name: "job.odb"}.Encode())
	f.Add("%2E.", format.Dentry{Kind: format.KindFile, ID: 5, Name: ".."}.Encode())
	f.Add("a", format.Dentry{Kind: format.KindDir, ID: 7, Name: "b"}.Encode())
	f.Fuzz(func(t *testing.T, ename string, body []byte) {
		if remote.ValidKey(format.DirPrefix(format.RootID)+ename) != nil {
			return
		}
		store := mem.New("mem://fuzz")
		ctx := context.Background()
		root := format.NewRoot("fuzz").Encode()
		store.Put(ctx, format.RootKey, bytesReader(root), int64(len(root)), remote.PutOptions{})
		store.Put(ctx, format.DirPrefix(format.RootID)+ename, bytesReader(body), int64(len(body)), remote.PutOptions{})
		tr, err := browse.Open(ctx, store, browse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ents, err := tr.ReadDir(ctx, format.RootID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if format.CheckName(e.Name) != nil || format.EscapeName(e.Name) != ename || e.ID <= format.RootID {
				t.Fatalf("listed %+v under %q", e, ename)
			}
		}
	})
}
