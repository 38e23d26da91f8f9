package browsetest

import (
	"github.com/syncfs/syncfs/format"
)

// Extent is an extent of a file with the segment it is in.
type Extent struct {
	Seg int
	format.Extent
}

// Extents lists the extents of the current version of the file at p, in
// file order.
func (w *Writer) Extents(p string) []Extent {
	ino := w.mustLookup(p)
	var out []Extent
	for s := range ino.m.Segments {
		if seg := ino.segs[s]; seg != nil {
			for _, x := range seg.Extents {
				out = append(out, Extent{s, x})
			}
		}
	}
	return out
}

// CorruptFrame flips one byte in the middle of the stored frame of
// extent x of the file at p, in place in its data object.
func (w *Writer) CorruptFrame(p string, x Extent) {
	w.t.Helper()
	key := format.DataKey(w.ID(p), x.Seq)
	b := w.GetRaw(key)
	b[x.FrameOff+uint64(x.FrameLen)/2] ^= 0x5a
	w.PutRaw(key, b)
}

// PutManifest stores m as the manifest of inode id, as it is.
func (w *Writer) PutManifest(id format.ID, m *format.Manifest) {
	w.t.Helper()
	w.PutRaw(format.InodeKey(id), m.Encode())
}

// PutSegment stores seg as version ver of segment s of inode id and
// returns the crc its inode manifest must carry.
func (w *Writer) PutSegment(id format.ID, s int, ver uint64, seg *format.Segment) uint32 {
	w.t.Helper()
	body := seg.Encode()
	w.PutRaw(format.SegmentKey(id, uint32(s), ver), body)
	return format.CRC(body)
}

// PutDentry stores a dentry body under key component ename of directory
// dir, whatever the body says: the way to plant a name with '/', "..",
// NUL, or one the key was not made from.
func (w *Writer) PutDentry(dir format.ID, ename string, d format.Dentry) {
	w.t.Helper()
	w.PutRaw(format.DirPrefix(dir)+ename, d.Encode())
}

// NewID returns an inode ID no inode of the tree has.
func (w *Writer) NewID() format.ID {
	id := w.nextID
	w.nextID++
	return id
}
