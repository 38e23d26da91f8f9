package uploader

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/remote"
)

// Shipping a file's bytes: which blocks go (plan), which live ranges of
// mostly dead objects go again (compact), the data objects (putObjects),
// then the segment manifests that point into them (putSegments). The
// inode manifest that points at those is the caller's (commitInode).

// dataResult is what shipping a file's bytes leaves to do after the
// inode manifest is committed.
type dataResult struct {
	garbage []string       // keys the new manifest no longer refers to
	hashes  map[int][]byte // block hashes of the segments rewritten
}

// delta is one commit's change to a file's data, being built.
type delta struct {
	id     format.ID
	size   int64                   // the file's new size
	old, m *format.Manifest        // the shipped manifest (nil: none) and the new one
	ship   ranges.Set              // granules (pages or blocks) to ship
	segs   map[int]*format.Segment // segments rewritten, new contents
	refs   []format.SegmentRef     // the new manifest's segment table
	res    *dataResult
}

// shipData puts the data objects and segment manifests for the file's
// dirty ranges and fills m's segment and object tables.
func (u *Uploader) shipData(ctx context.Context, id format.ID, loc *localfile.File, dirty ranges.Set, old, m *format.Manifest) (*dataResult, error) {
	size := loc.St.Size
	if size > format.MaxFileSize {
		return nil, fmt.Errorf("file of %d bytes is larger than the format's 1 PiB", size)
	}
	m.Size = size
	d := &delta{id: id, size: size, old: old, m: m, res: &dataResult{hashes: map[int][]byte{}}, segs: map[int]*format.Segment{}}
	if err := u.plan(ctx, d, dirty); err != nil {
		return nil, err
	}
	d.compact()
	d.boundExtents()
	if err := u.putObjects(ctx, d, loc.FD); err != nil {
		return nil, err
	}
	if err := u.putSegments(ctx, d); err != nil {
		return nil, err
	}
	m.Segments = d.refs
	return d.res, nil
}

// plan finds the blocks to ship, loads the segments they touch, and lets
// the segments past a new end go.
func (u *Uploader) plan(ctx context.Context, d *delta, dirty ranges.Set) error {
	size, old := d.size, d.old
	var oldSize int64
	if old != nil {
		oldSize = old.Size
	}
	want := dirty.Clone().Truncate(size)
	// The granule the end of file moved through must ship again: an
	// extent may end off a granule boundary only at the end of the file.
	// Its block is rehashed with it: the old last block grew, or the new
	// last block was cut.
	g := u.granule
	if oldSize < size && oldSize%g != 0 {
		b := oldSize / g * g
		want = want.Add(b, min(size, b+g)-b)
	}
	if size < oldSize && size%g != 0 {
		b := size / g * g
		want = want.Add(b, size-b)
	}
	d.ship = want.Align(g, size)

	nseg := format.NumSegments(size)
	touched := map[int]bool{}
	for _, r := range d.ship {
		for s := r.Off / segmentSize; s*segmentSize < r.End(); s++ {
			touched[int(s)] = true
		}
	}
	if oldSize != size {
		if oldSize > 0 {
			touched[int((oldSize-1)/segmentSize)] = true
		}
		if size > 0 {
			touched[int((size-1)/segmentSize)] = true
		}
	}
	// Segments past the new end: their extents die, their manifests go.
	if old != nil {
		for i := nseg; i < len(old.Segments); i++ {
			if old.Segments[i].Version == 0 {
				continue
			}
			s, err := u.cache.segment(ctx, d.id, old, i)
			if err != nil {
				return err
			}
			d.account(s.Extents)
			d.res.garbage = append(d.res.garbage, format.SegmentKey(d.id, uint32(i), old.Segments[i].Version))
		}
	}
	d.refs = make([]format.SegmentRef, nseg)
	if old != nil {
		copy(d.refs, old.Segments)
	}
	for i := range d.refs {
		if old == nil || i >= len(old.Segments) {
			d.refs[i] = format.SegmentRef{Digest: format.ZeroDigest(i, size)}
		}
	}
	for i := range touched {
		if i >= nseg {
			continue
		}
		s, err := u.cache.segment(ctx, d.id, old, i)
		if err != nil {
			return err
		}
		d.account(s.Resize(size))
		if g == format.PageSize {
			s.Format = format.Version2
		}
		d.segs[i] = s
	}
	return nil
}

// account takes extents that no longer count off their objects' live
// bytes.
func (d *delta) account(removed []format.Extent) {
	for _, x := range removed {
		if o, ok := d.m.Object(x.Seq); ok {
			o.Live -= int64(x.Len)
		}
	}
}

// compact adds the live ranges of mostly dead objects in the segments
// being rewritten: they ship again, and the objects can go.
func (d *delta) compact() {
	for i, s := range d.segs {
		for _, x := range s.Extents {
			if o, ok := d.m.Object(x.Seq); ok && o.Live*compactBelow < o.Raw {
				d.ship = d.ship.Add(int64(i)*segmentSize+int64(x.Off), int64(x.Len))
			}
		}
	}
}

// putObjects reads the blocks around the planned granules, rehashes
// them, compresses and puts the granules as data objects, and points the
// segments at them.
func (u *Uploader) putObjects(ctx context.Context, d *delta, fd int) error {
	m := d.m
	jobs := packObjects(planFrames(d.ship, d.size))
	for i := range jobs {
		jobs[i].seq = m.NextSeq
		m.NextSeq++
	}
	results, err := u.runJobs(ctx, d.id, fd, jobs)
	if err != nil {
		return err
	}
	var added []format.Object
	for _, r := range results {
		o := format.Object{Seq: r.seq, Stored: r.stored, Raw: r.raw}
		for _, w := range r.windows {
			seg := d.segs[int(w.off/segmentSize)]
			soff := uint32(w.off % segmentSize)
			if w.hole {
				d.account(seg.Clear(soff, uint32(w.n)))
			}
			for _, f := range w.frames {
				foff := uint32(f.off % segmentSize)
				if f.zero {
					d.account(seg.Clear(foff, uint32(f.n)))
					continue
				}
				x := f.ext
				x.Off = foff
				d.account(seg.Put(x))
				o.Live += int64(x.Len)
			}
			first := int(soff / blockSize)
			for k, h := range w.hashes {
				seg.Hashes[first+k] = h
			}
		}
		if o.Stored > 0 {
			added = append(added, o)
		}
	}
	m.Objects = append(m.Objects, added...)
	sort.Slice(m.Objects, func(a, b int) bool { return m.Objects[a].Seq < m.Objects[b].Seq })
	for _, seq := range m.DropDead() {
		d.res.garbage = append(d.res.garbage, format.DataKey(d.id, seq))
	}
	return nil
}

// putSegments puts new versions of the segment manifests that changed; a
// segment of zeros only needs none.
func (u *Uploader) putSegments(ctx context.Context, d *delta) error {
	old, m := d.old, d.m
	for i, s := range d.segs {
		d.res.hashes[i] = s.FlatHashes()
		if old != nil && i < len(old.Segments) && old.Segments[i].Version != 0 {
			d.res.garbage = append(d.res.garbage, format.SegmentKey(d.id, uint32(i), old.Segments[i].Version))
		}
		if len(s.Extents) == 0 && s.AllZero(d.size) {
			d.refs[i] = format.SegmentRef{Digest: format.ZeroDigest(i, d.size)}
			continue
		}
		s.Version = m.Version
		body := s.Encode()
		if err := u.store.Put(ctx, format.SegmentKey(d.id, uint32(i), s.Version), bytes.NewReader(body), int64(len(body)), remote.PutOptions{}); err != nil {
			return err
		}
		u.stats.SentBytes.Add(int64(len(body)))
		u.cache.putSegment(d.id, s)
		d.refs[i] = format.SegmentRef{Version: s.Version, CRC: format.CRC(body), Digest: s.Digest()}
	}
	return nil
}

// maxExtents bounds the extents of a format-2 segment, and so the size of
// its manifest (docs/format.md, "Size bound").
const maxExtents = 4096

// boundExtents keeps every format-2 segment being rewritten within
// maxExtents: while the planned granules would leave more, the blocks
// holding the most extents ship whole, each then one extent (or a few,
// where frames cut it). Format-1 segments have at most one extent per
// block anyway.
func (d *delta) boundExtents() {
	for i, s := range d.segs {
		if s.Format != format.Version2 {
			continue
		}
		base := int64(i) * segmentSize
		segLen := format.SegmentLen(d.size, i)
		for {
			exts := d.extentsAfter(s, base)
			if len(exts) <= maxExtents {
				break
			}
			perBlock := map[int64]int{}
			for _, x := range exts {
				for b := int64(x.Off) / blockSize; b*blockSize < int64(x.End()); b++ {
					perBlock[b]++
				}
			}
			blocks := make([]int64, 0, len(perBlock))
			for b, n := range perBlock {
				if n > 1 && !d.ship.Contains(base+b*blockSize, min(blockSize, segLen-b*blockSize)) {
					blocks = append(blocks, b)
				}
			}
			if len(blocks) == 0 {
				break // every block already ships whole: frames alone cannot exceed the bound
			}
			sort.Slice(blocks, func(a, b int) bool {
				if perBlock[blocks[a]] != perBlock[blocks[b]] {
					return perBlock[blocks[a]] > perBlock[blocks[b]]
				}
				return blocks[a] < blocks[b]
			})
			over := len(exts) - maxExtents
			for _, b := range blocks {
				d.ship = d.ship.Add(base+b*blockSize, min(blockSize, segLen-b*blockSize))
				if over -= perBlock[b] - 1; over <= 0 {
					break
				}
			}
		}
	}
}

// extentsAfter returns the extents segment s (at file offset base) would
// hold once the planned granules are put: only their places count.
func (d *delta) extentsAfter(s *format.Segment, base int64) []format.Extent {
	sim := format.Segment{Extents: append([]format.Extent(nil), s.Extents...)}
	for _, w := range planFrames(d.ship.Intersect(base, segmentSize), d.size) {
		for _, f := range w.frames {
			sim.Put(format.Extent{Off: uint32(f.off - base), Len: uint32(f.n)})
		}
	}
	return sim.Extents
}
