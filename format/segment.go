package format

import (
	"crypto/sha256"
	"sort"
	"sync"
)

// Segment is the body of i/<id>/s/<seg>.<ver>: the block hashes of one
// 64 MiB segment and the extents that say where its bytes are stored.
type Segment struct {
	Format  int // Version2: page-aligned extents (magic SFS2); 0: format 1, block-aligned (SFS1)
	Index   uint32
	Version uint64
	Hashes  [][HashSize]byte // one per block below the file size
	Extents []Extent         // sorted, not overlapping; gaps are zeros
}

// Extent maps bytes [Off, Off+Len) of a segment to bytes [Skip, Skip+Len)
// of a frame of a data object.
type Extent struct {
	Off, Len uint32 // in the segment
	Seq      uint64 // data object
	FrameOff uint64 // frame's offset in the object
	FrameLen uint32 // frame's stored length
	RawLen   uint32 // frame's raw length
	Skip     uint32
	Codec    Codec
	CRC      uint32 // crc32c of the raw frame
}

// End is the first segment offset after e.
func (e Extent) End() uint32 { return e.Off + e.Len }

const (
	segmentMagic  = "SFS1"
	segmentMagic2 = "SFS2" // format 2: extents on page boundaries
)

const extentSize = 41

// Encode returns the segment manifest's object body.
func (s *Segment) Encode() []byte {
	e := enc{b: make([]byte, 0, 28+HashSize*len(s.Hashes)+extentSize*len(s.Extents))}
	if s.Format == Version2 {
		e.raw([]byte(segmentMagic2))
	} else {
		e.raw([]byte(segmentMagic))
	}
	e.u32(s.Index)
	e.u64(s.Version)
	e.u32(uint32(len(s.Hashes)))
	for _, h := range s.Hashes {
		e.raw(h[:])
	}
	e.u32(uint32(len(s.Extents)))
	for _, x := range s.Extents {
		e.u32(x.Off)
		e.u32(x.Len)
		e.u64(x.Seq)
		e.u64(x.FrameOff)
		e.u32(x.FrameLen)
		e.u32(x.RawLen)
		e.u32(x.Skip)
		e.u8(uint8(x.Codec))
		e.u32(x.CRC)
	}
	return e.seal()
}

// DecodeSegment parses a segment manifest and checks it against what the
// inode manifest says: its index, its version, and the file size (which
// fixes how many blocks and bytes it covers).
func DecodeSegment(b []byte, index uint32, version uint64, fileSize int64) (*Segment, error) {
	magic, fmtVer, align := segmentMagic, 0, uint32(BlockSize)
	if len(b) >= len(segmentMagic2) && string(b[:len(segmentMagic2)]) == segmentMagic2 {
		magic, fmtVer, align = segmentMagic2, Version2, PageSize
	}
	d, err := open(b, magic, "segment")
	if err != nil {
		return nil, err
	}
	s := &Segment{Format: fmtVer, Index: d.u32(), Version: d.u64()}
	if d.err == nil && (s.Index != index || s.Version != version) {
		return nil, corrupt("segment: is %d.%d, manifest wants %d.%d", s.Index, s.Version, index, version)
	}
	segLen := SegmentLen(fileSize, int(index))
	nb := d.count(HashSize)
	if d.err == nil && int64(nb) != (segLen+BlockSize-1)/BlockSize {
		return nil, corrupt("segment %d: %d block hashes for %d bytes", index, nb, segLen)
	}
	s.Hashes = make([][HashSize]byte, nb)
	for i := range s.Hashes {
		copy(s.Hashes[i][:], d.bytes(HashSize))
	}
	ne := d.count(extentSize)
	s.Extents = make([]Extent, 0, ne)
	for i := 0; i < ne && d.err == nil; i++ {
		x := Extent{Off: d.u32(), Len: d.u32(), Seq: d.u64(), FrameOff: d.u64(), FrameLen: d.u32(), RawLen: d.u32(), Skip: d.u32(), Codec: Codec(d.u8()), CRC: d.u32()}
		s.Extents = append(s.Extents, x)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	for i, x := range s.Extents {
		switch {
		case x.Len == 0 || x.Off%align != 0:
			return nil, corrupt("segment %d: extent %d misaligned", index, i)
		case int64(x.End()) > segLen || x.End() < x.Off:
			return nil, corrupt("segment %d: extent %d runs past the segment", index, i)
		case x.Len%align != 0 && int64(x.End()) != segLen:
			return nil, corrupt("segment %d: extent %d has a partial block or page inside the file", index, i)
		case i > 0 && x.Off < s.Extents[i-1].End():
			return nil, corrupt("segment %d: extents %d and %d overlap or are out of order", index, i-1, i)
		case x.RawLen == 0 || x.RawLen > MaxFrameRaw || uint64(x.Skip)+uint64(x.Len) > uint64(x.RawLen):
			return nil, corrupt("segment %d: extent %d points outside its frame", index, i)
		case !x.Codec.valid() || x.FrameLen == 0 || x.FrameLen > maxStored(x.RawLen):
			return nil, corrupt("segment %d: extent %d has a bad frame", index, i)
		case x.Codec == CodecRaw && x.FrameLen != x.RawLen:
			return nil, corrupt("segment %d: extent %d raw frame of the wrong length", index, i)
		}
	}
	return s, nil
}

// maxStored bounds a frame's stored size: zstd never grows data by more
// than a small header and block overhead.
func maxStored(raw uint32) uint32 { return raw + raw/128 + 1024 }

// Find returns the extents that overlap [off, off+n), in order.
func (s *Segment) Find(off, n uint32) []Extent {
	end := off + n
	i := sort.Search(len(s.Extents), func(i int) bool { return s.Extents[i].End() > off })
	var out []Extent
	for ; i < len(s.Extents) && s.Extents[i].Off < end; i++ {
		out = append(out, s.Extents[i])
	}
	return out
}

// Clear removes every byte of [off, off+n) from the extents, splitting
// extents that straddle the edges, and returns the pieces removed (for the
// object table's live byte counts). The range then reads as zeros.
func (s *Segment) Clear(off, n uint32) (removed []Extent) {
	if n == 0 {
		return nil
	}
	end := off + n
	var out []Extent
	for _, x := range s.Extents {
		if x.End() <= off || x.Off >= end {
			out = append(out, x)
			continue
		}
		if x.Off < off { // keep the left part
			left := x
			left.Len = off - x.Off
			out = append(out, left)
		}
		cut := x
		cut.Off = max(x.Off, off)
		cut.Skip = x.Skip + (cut.Off - x.Off)
		cut.Len = min(x.End(), end) - cut.Off
		removed = append(removed, cut)
		if x.End() > end { // keep the right part
			right := x
			right.Off = end
			right.Skip = x.Skip + (end - x.Off)
			right.Len = x.End() - end
			out = append(out, right)
		}
	}
	s.Extents = out
	return removed
}

// Put makes x the extent for its range, replacing whatever was there, and
// returns the pieces replaced.
func (s *Segment) Put(x Extent) (removed []Extent) {
	removed = s.Clear(x.Off, x.Len)
	i := sort.Search(len(s.Extents), func(i int) bool { return s.Extents[i].Off >= x.Off })
	s.Extents = append(s.Extents, Extent{})
	copy(s.Extents[i+1:], s.Extents[i:])
	s.Extents[i] = x
	return removed
}

// Resize fits the segment to a file of size bytes: extents and block
// hashes past the end are dropped (and returned as removed); missing
// block hashes are those of zeros. The caller rehashes a block that was
// cut in the middle.
func (s *Segment) Resize(fileSize int64) (removed []Extent) {
	segLen := SegmentLen(fileSize, int(s.Index))
	if cur := s.covered(); int64(cur) > segLen {
		removed = s.Clear(uint32(segLen), cur-uint32(segLen))
	}
	nb := int((segLen + BlockSize - 1) / BlockSize)
	for len(s.Hashes) < nb {
		i := len(s.Hashes)
		blen := min(BlockSize, segLen-int64(i)*BlockSize)
		s.Hashes = append(s.Hashes, ZeroHash(int(blen)))
	}
	s.Hashes = s.Hashes[:nb]
	return removed
}

func (s *Segment) covered() uint32 {
	if len(s.Extents) == 0 {
		return 0
	}
	return s.Extents[len(s.Extents)-1].End()
}

// Digest is the SHA-256 of the segment's block hashes.
func (s *Segment) Digest() [32]byte {
	h := sha256.New()
	for _, b := range s.Hashes {
		h.Write(b[:])
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// BlockHash is the hash kept for a block: the first 16 bytes of its SHA-256.
func BlockHash(b []byte) [HashSize]byte {
	sum := sha256.Sum256(b)
	var h [HashSize]byte
	copy(h[:], sum[:])
	return h
}

var zeroHashes sync.Map // block length -> [HashSize]byte

// ZeroHash is BlockHash of n zero bytes.
func ZeroHash(n int) [HashSize]byte {
	if v, ok := zeroHashes.Load(n); ok {
		return v.([HashSize]byte)
	}
	h := BlockHash(make([]byte, n))
	zeroHashes.Store(n, h)
	return h
}

// ZeroSegment returns the segment a file of size bytes has at index seg
// when nothing was ever written there: no extents, hashes of zeros.
func ZeroSegment(seg int, fileSize int64) *Segment {
	s := &Segment{Index: uint32(seg)}
	s.Resize(fileSize)
	return s
}

// FlatHashes returns the segment's block hashes end to end, as the
// journal keeps them.
func (s *Segment) FlatHashes() []byte {
	b := make([]byte, 0, len(s.Hashes)*HashSize)
	for _, x := range s.Hashes {
		b = append(b, x[:]...)
	}
	return b
}

// AllZero reports whether every block of s, in a file of fileSize bytes,
// holds zeros: such a segment needs no manifest.
func (s *Segment) AllZero(fileSize int64) bool {
	z := ZeroSegment(int(s.Index), fileSize)
	for k, h := range s.Hashes {
		if h != z.Hashes[k] {
			return false
		}
	}
	return true
}

var zeroDigests sync.Map // segment length -> [32]byte

// ZeroDigest is the digest of segment seg of a file of fileSize bytes that
// holds only zeros (what a segment table holds for a segment with no
// manifest).
func ZeroDigest(seg int, fileSize int64) [32]byte {
	n := SegmentLen(fileSize, seg)
	if v, ok := zeroDigests.Load(n); ok {
		return v.([32]byte)
	}
	d := ZeroSegment(seg, fileSize).Digest()
	zeroDigests.Store(n, d)
	return d
}
