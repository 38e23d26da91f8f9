package browse

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// segKey names a decoded segment manifest. Segment manifests are
// immutable, but how one decodes depends on the file size the inode
// manifest gives (how many blocks lie below it), so that is part of the
// key, with the crc the inode manifest expects of the object.
type segKey struct {
	id     format.ID
	seg    uint32
	ver    uint64
	segLen int64
	crc    uint32
}

// Segment returns the segment manifest of segment seg of f's version: its
// block hashes and extents. A segment that was never written (version 0)
// is all zeros.
func (f *File) Segment(ctx context.Context, seg int) (*format.Segment, error) {
	if seg < 0 || seg >= len(f.m.Segments) {
		return nil, fmt.Errorf("segment %d of a file of %d segments", seg, len(f.m.Segments))
	}
	ref := f.m.Segments[seg]
	if ref.Version == 0 {
		return format.ZeroSegment(seg, f.m.Size), nil
	}
	t := f.t
	k := segKey{id: f.id, seg: uint32(seg), ver: ref.Version, segLen: format.SegmentLen(f.m.Size, seg), crc: ref.CRC}
	if s, ok := t.segs.Get(k); ok {
		return s, nil
	}
	key := format.SegmentKey(f.id, uint32(seg), ref.Version)
	b, err := t.readSmall(ctx, key, maxSegment)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, stale(key)
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			t.warn.corrupt("%s: %v", t.store, err)
		}
		return nil, err
	}
	if format.CRC(b) != ref.CRC {
		t.warn.corrupt("%s: %s: crc does not match the inode manifest's", t.store, key)
		return nil, fmt.Errorf("%w: %s: crc does not match the inode manifest's", ErrCorrupt, key)
	}
	s, err := format.DecodeSegment(b, uint32(seg), ref.Version, f.m.Size)
	if err != nil {
		t.warn.corrupt("%s: %s: %v", t.store, key, err)
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	t.segs.Put(k, s)
	return s, nil
}
