package format

import (
	"crypto/sha256"
	"sort"
	"time"
)

// Manifest is the body of i/<id>/m: an inode's attributes and, for a
// file, the table of its segments and of its live data objects.
type Manifest struct {
	Version  uint64
	Kind     Kind
	Mode     uint32 // st_mode & 07777
	UID, GID uint32
	Mtime    time.Time
	Size     int64
	NextSeq  uint64 // sequence number of the next data object
	Target   string // symlink target
	Xattrs   []Xattr
	Segments []SegmentRef // ceil(Size/SegmentSize) entries for a file
	Objects  []Object     // live data objects, by sequence
	Digest   [32]byte     // SHA-256 of the segment digests
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// SegmentRef is a manifest's entry for one segment.
type SegmentRef struct {
	Version uint64   // 0: no segment manifest, all zeros
	CRC     uint32   // crc32c of the segment manifest object
	Digest  [32]byte // SHA-256 of the segment's block hashes
}

// Object is a live data object.
type Object struct {
	Seq    uint64
	Stored int64 // bytes in the store
	Raw    int64 // raw bytes of its frames when written
	Live   int64 // raw bytes still referred to by extents
}

const manifestMagic = "SFI1"

// NumSegments is the number of segments a file of size bytes has.
func NumSegments(size int64) int {
	return int((size + SegmentSize - 1) / SegmentSize)
}

// SegmentLen is how many bytes of segment seg lie below size.
func SegmentLen(size int64, seg int) int64 {
	return max(0, min(SegmentSize, size-int64(seg)*SegmentSize))
}

// Encode returns the manifest's object body.
func (m *Manifest) Encode() []byte {
	e := enc{b: make([]byte, 0, 128+len(m.Target)+44*len(m.Segments)+32*len(m.Objects))}
	e.raw([]byte(manifestMagic))
	e.u64(m.Version)
	e.u8(uint8(m.Kind))
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
	e.u64(uint64(m.Mtime.Unix()))
	e.u32(uint32(m.Mtime.Nanosecond()))
	e.u64(uint64(m.Size))
	e.u32(BlockSize)
	e.u32(SegmentBlocks)
	e.u64(m.NextSeq)
	e.str16(m.Target)
	e.u16(uint16(len(m.Xattrs)))
	for _, x := range m.Xattrs {
		e.u8(uint8(len(x.Name)))
		e.raw([]byte(x.Name))
		e.u16(uint16(len(x.Value)))
		e.raw(x.Value)
	}
	e.u32(uint32(len(m.Segments)))
	for _, s := range m.Segments {
		e.u64(s.Version)
		e.u32(s.CRC)
		e.raw(s.Digest[:])
	}
	e.u32(uint32(len(m.Objects)))
	for _, o := range m.Objects {
		e.u64(o.Seq)
		e.u64(uint64(o.Stored))
		e.u64(uint64(o.Raw))
		e.u64(uint64(o.Live))
	}
	e.raw(m.Digest[:])
	return e.seal()
}

// DecodeManifest parses and validates an inode manifest.
func DecodeManifest(b []byte) (*Manifest, error) {
	d, err := open(b, manifestMagic, "manifest")
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	m.Version = d.u64()
	m.Kind = Kind(d.u8())
	m.Mode = d.u32()
	m.UID = d.u32()
	m.GID = d.u32()
	sec, nsec := int64(d.u64()), d.u32()
	m.Mtime = time.Unix(sec, int64(nsec))
	size := d.u64()
	bs, sb := d.u32(), d.u32()
	m.NextSeq = d.u64()
	m.Target = d.str16(MaxTarget)
	nx := int(d.u16())
	xbytes := 0
	for i := 0; i < nx && d.err == nil; i++ {
		name := string(d.bytes(int(d.u8())))
		val := d.bytes(int(d.u16()))
		xbytes += len(name) + len(val)
		m.Xattrs = append(m.Xattrs, Xattr{Name: name, Value: append([]byte(nil), val...)})
	}
	ns := d.count(44)
	for i := 0; i < ns && d.err == nil; i++ {
		var s SegmentRef
		s.Version = d.u64()
		s.CRC = d.u32()
		copy(s.Digest[:], d.bytes(32))
		m.Segments = append(m.Segments, s)
	}
	no := d.count(32)
	for i := 0; i < no && d.err == nil; i++ {
		m.Objects = append(m.Objects, Object{Seq: d.u64(), Stored: int64(d.u64()), Raw: int64(d.u64()), Live: int64(d.u64())})
	}
	copy(m.Digest[:], d.bytes(32))
	if err := d.finish(); err != nil {
		return nil, err
	}
	switch {
	case !m.Kind.valid():
		return nil, corrupt("manifest: bad kind %d", m.Kind)
	case bs != BlockSize || sb != SegmentBlocks:
		return nil, corrupt("manifest: block size %d x %d, want %d x %d", bs, sb, BlockSize, SegmentBlocks)
	case size > MaxFileSize:
		return nil, corrupt("manifest: size %d is past the 1 PiB limit", size)
	case m.Mode&^0o7777 != 0:
		return nil, corrupt("manifest: mode %o", m.Mode)
	case xbytes > MaxXattrBytes:
		return nil, corrupt("manifest: %d bytes of xattrs", xbytes)
	case m.Version == 0:
		return nil, corrupt("manifest: version 0")
	}
	m.Size = int64(size)
	if m.Kind != KindFile && (m.Size != 0 || len(m.Segments) != 0 || len(m.Objects) != 0) {
		return nil, corrupt("manifest: a %v with data", m.Kind)
	}
	if len(m.Segments) != NumSegments(m.Size) {
		return nil, corrupt("manifest: %d segments for %d bytes", len(m.Segments), m.Size)
	}
	for i, o := range m.Objects {
		if o.Seq >= m.NextSeq || o.Stored < 0 || o.Raw < 0 || o.Live < 0 || o.Live > o.Raw || (i > 0 && o.Seq <= m.Objects[i-1].Seq) {
			return nil, corrupt("manifest: bad object table entry %d", i)
		}
	}
	for _, s := range m.Segments {
		if s.Version > m.Version {
			return nil, corrupt("manifest: segment version %d after manifest version %d", s.Version, m.Version)
		}
	}
	return m, nil
}

// Object returns the table entry for seq.
func (m *Manifest) Object(seq uint64) (*Object, bool) {
	i := sort.Search(len(m.Objects), func(i int) bool { return m.Objects[i].Seq >= seq })
	if i < len(m.Objects) && m.Objects[i].Seq == seq {
		return &m.Objects[i], true
	}
	return nil, false
}

// AddObject records a new object; seqs must be added in increasing order.
func (m *Manifest) AddObject(o Object) {
	m.Objects = append(m.Objects, o)
}

// DropDead removes objects with no live bytes and returns their seqs.
func (m *Manifest) DropDead() []uint64 {
	var dead []uint64
	kept := m.Objects[:0]
	for _, o := range m.Objects {
		if o.Live <= 0 {
			dead = append(dead, o.Seq)
			continue
		}
		kept = append(kept, o)
	}
	m.Objects = kept
	return dead
}

// SetDigest recomputes the file digest from the segment digests.
func (m *Manifest) SetDigest() {
	h := sha256.New()
	for _, s := range m.Segments {
		h.Write(s.Digest[:])
	}
	copy(m.Digest[:], h.Sum(nil))
}
