package browsetest

import (
	"bytes"
	"io"
	"path"
	"sort"

	"github.com/syncfs/syncfs/format"
)

const bs = int64(format.BlockSize)

// WriteFile creates the file at p (and its parent directories) or
// replaces its contents, in one commit that rewrites every block, as an
// upload of a file written in one go does.
func (w *Writer) WriteFile(p string, data []byte, mode uint32) format.ID {
	w.t.Helper()
	ino, existed := w.lookup(p)
	if !existed {
		dir, name := path.Split(p)
		ino = w.newInode(dir, name, format.KindFile, mode)
	} else if ino.streamed {
		w.t.Fatalf("browsetest: %s was streamed; its bytes are not kept", p)
	}
	data = append([]byte(nil), data...)
	dirty := make([]int64, (int64(len(data))+bs-1)/bs)
	for i := range dirty {
		dirty[i] = int64(i)
	}
	w.commitData(ino, int64(len(data)), dirty, memSource(data))
	ino.data = data
	if !existed {
		w.link(ino)
	}
	return ino.id
}

// Patch writes b at off of the existing file at p, like pwrite(2)
// (extending the file if it ends before off+len(b)), and commits only the
// blocks it touches: the extents around them are split and keep pointing
// into the frames written before.
func (w *Writer) Patch(p string, off int64, b []byte) {
	w.t.Helper()
	ino := w.mustLookup(p)
	if ino.streamed {
		w.t.Fatalf("browsetest: %s was streamed; its bytes are not kept", p)
	}
	data := ino.data
	if end := off + int64(len(b)); end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[off:], b)
	var dirty []int64
	if len(b) > 0 {
		for blk := off / bs; blk <= (off+int64(len(b))-1)/bs; blk++ {
			dirty = append(dirty, blk)
		}
	}
	w.commitData(ino, int64(len(data)), dirty, memSource(data))
	ino.data = data
}

// Truncate sets the size of the file at p; new bytes are zeros (a hole).
func (w *Writer) Truncate(p string, size int64) {
	w.t.Helper()
	ino := w.mustLookup(p)
	data := ino.data
	if size <= int64(len(data)) {
		data = data[:size:size]
	} else {
		data = append(data, make([]byte, size-int64(len(data)))...)
	}
	w.commitData(ino, size, nil, memSource(data))
	ino.data = data
}

// WriteStream creates the file at p with size bytes read from r, without
// keeping them (for files too large to hold: Content and Patch then fail).
func (w *Writer) WriteStream(p string, r io.Reader, size int64, mode uint32) format.ID {
	w.t.Helper()
	dir, name := path.Split(p)
	ino := w.newInode(dir, name, format.KindFile, mode)
	ino.streamed = true
	dirty := make([]int64, (size+bs-1)/bs)
	for i := range dirty {
		dirty[i] = int64(i)
	}
	var pos int64
	w.commitData(ino, size, dirty, func(off, n int64) []byte {
		if off != pos {
			w.t.Fatalf("browsetest: stream read at %d, expected %d", off, pos)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			w.t.Fatalf("browsetest: reading the stream: %v", err)
		}
		pos += n
		return b
	})
	w.link(ino)
	return ino.id
}

// source returns the n bytes of the new file contents at off; commitData
// asks for blocks in increasing order.
type source func(off, n int64) []byte

func memSource(data []byte) source {
	return func(off, n int64) []byte { return data[off : off+n] }
}

// object is the data object a commit is filling.
type object struct {
	seq    uint64
	buf    []byte
	rawLen int64
}

// commitData commits a new version of file ino of newSize bytes in which
// the blocks dirty (and the blocks that a size change cuts or extends)
// are rewritten from src.
func (w *Writer) commitData(ino *inode, newSize int64, dirty []int64, src source) {
	w.t.Helper()
	m := &ino.m
	oldSize := m.Size
	version := m.Version + 1
	nblocks := (newSize + bs - 1) / bs
	set := map[int64]bool{}
	for _, b := range dirty {
		set[b] = true
	}
	if oldSize < newSize && oldSize%bs != 0 {
		set[(oldSize-1)/bs] = true // a short last block becomes a whole one
	}
	if newSize < oldSize && newSize%bs != 0 {
		set[(newSize-1)/bs] = true // a block cut short
	}
	blocks := make([]int64, 0, len(set))
	for b := range set {
		if b < nblocks {
			blocks = append(blocks, b)
		}
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i] < blocks[j] })

	oldRefs := m.Segments
	oldVer := func(s int) uint64 {
		if s < len(oldRefs) {
			return oldRefs[s].Version
		}
		return 0
	}
	decLive := func(removed []format.Extent) {
		for _, x := range removed {
			if o, ok := m.Object(x.Seq); ok {
				o.Live -= int64(x.Len)
			}
		}
	}
	nseg := format.NumSegments(newSize)
	touched := map[int]bool{}
	for s, seg := range ino.segs {
		if s >= nseg {
			decLive(seg.Extents)
			if v := oldVer(s); v != 0 {
				w.garbage = append(w.garbage, format.SegmentKey(ino.id, uint32(s), v))
			}
			delete(ino.segs, s)
			continue
		}
		n := len(seg.Hashes)
		decLive(seg.Resize(newSize))
		if len(seg.Hashes) != n {
			touched[s] = true
		}
	}
	segment := func(s int) *format.Segment {
		if ino.segs[s] == nil {
			ino.segs[s] = format.ZeroSegment(s, newSize)
		}
		return ino.segs[s]
	}

	obj := &object{seq: m.NextSeq}
	flush := func() {
		if len(obj.buf) == 0 {
			return
		}
		w.PutRaw(format.DataKey(ino.id, obj.seq), obj.buf)
		m.AddObject(format.Object{Seq: obj.seq, Stored: int64(len(obj.buf)), Raw: obj.rawLen, Live: obj.rawLen})
		obj.seq++
		obj.buf, obj.rawLen = nil, 0
	}
	zeros := make([]byte, bs)
	// src is asked for each block once, in order; a block read ahead to
	// end a frame waits in peek for the next round.
	peekB, peek := int64(-1), []byte(nil)
	block := func(b int64) []byte {
		if b == peekB {
			peekB = -1
			return peek
		}
		return src(b*bs, min(bs, newSize-b*bs))
	}
	for i := 0; i < len(blocks); {
		b := blocks[i]
		s := int(b * bs / format.SegmentSize)
		seg := segment(s)
		touched[s] = true
		segOff := b*bs - int64(s)*format.SegmentSize
		first := block(b)
		if bytes.Equal(first, zeros[:len(first)]) { // zeros are stored as a hole
			decLive(seg.Clear(uint32(segOff), uint32(len(first))))
			seg.Hashes[segOff/bs] = format.ZeroHash(len(first))
			i++
			continue
		}
		raw := append([]byte(nil), first...)
		k := 1
		for i+k < len(blocks) && k < w.frameBlocks() {
			nb := blocks[i+k]
			if nb != b+int64(k) || int(nb*bs/format.SegmentSize) != s {
				break
			}
			next := block(nb)
			if bytes.Equal(next, zeros[:len(next)]) {
				peekB, peek = nb, next
				break
			}
			raw = append(raw, next...)
			k++
		}
		if obj.rawLen+int64(len(raw)) > int64(w.objectRaw()) {
			flush()
		}
		stored, codec := w.comp.Encode(nil, raw)
		x := format.Extent{Off: uint32(segOff), Len: uint32(len(raw)), Seq: obj.seq, FrameOff: uint64(len(obj.buf)),
			FrameLen: uint32(len(stored)), RawLen: uint32(len(raw)), Codec: codec, CRC: format.CRC(raw)}
		obj.buf = append(obj.buf, stored...)
		obj.rawLen += int64(len(raw))
		decLive(seg.Put(x))
		for j := 0; j < k; j++ {
			lo := int64(j) * bs
			seg.Hashes[segOff/bs+int64(j)] = format.BlockHash(raw[lo:min(lo+bs, int64(len(raw)))])
		}
		i += k
	}
	flush()
	m.NextSeq = obj.seq

	refs := make([]format.SegmentRef, nseg)
	for s := range nseg {
		seg := ino.segs[s]
		switch {
		case !touched[s] && s < len(oldRefs):
			refs[s] = oldRefs[s]
		case seg == nil || len(seg.Extents) == 0:
			if v := oldVer(s); v != 0 {
				w.garbage = append(w.garbage, format.SegmentKey(ino.id, uint32(s), v))
			}
			if seg == nil {
				seg = format.ZeroSegment(s, newSize)
			}
			seg.Version = 0
			refs[s] = format.SegmentRef{Digest: seg.Digest()}
		default:
			if v := oldVer(s); v != 0 {
				w.garbage = append(w.garbage, format.SegmentKey(ino.id, uint32(s), v))
			}
			seg.Index, seg.Version = uint32(s), version
			body := seg.Encode()
			w.PutRaw(format.SegmentKey(ino.id, uint32(s), version), body)
			refs[s] = format.SegmentRef{Version: version, CRC: format.CRC(body), Digest: seg.Digest()}
		}
	}
	m.Segments = refs
	m.Size = newSize
	m.Version = version
	m.Mtime = w.Now()
	for _, seq := range m.DropDead() {
		w.garbage = append(w.garbage, format.DataKey(ino.id, seq))
	}
	m.SetDigest()
	w.PutRaw(format.InodeKey(ino.id), m.Encode())
	if !w.KeepGarbage {
		w.CollectGarbage()
	}
}
