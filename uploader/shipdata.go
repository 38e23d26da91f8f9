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
	id      format.ID
	size    int64                   // the file's new size
	old, m  *format.Manifest        // the shipped manifest (nil: none) and the new one
	aligned ranges.Set              // whole blocks to ship
	segs    map[int]*format.Segment // segments rewritten, new contents
	refs    []format.SegmentRef     // the new manifest's segment table
	res     *dataResult
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
	// Blocks the end of file moved through must be rehashed: the old last
	// block grew, or the new last block was cut.
	if oldSize < size && oldSize%blockSize != 0 {
		b := oldSize / blockSize * blockSize
		want = want.Add(b, min(size, b+blockSize)-b)
	}
	if size < oldSize && size%blockSize != 0 {
		b := size / blockSize * blockSize
		want = want.Add(b, size-b)
	}
	d.aligned = want.Align(blockSize, size)

	nseg := format.NumSegments(size)
	touched := map[int]bool{}
	for _, r := range d.aligned {
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
				d.aligned = d.aligned.Add(int64(i)*segmentSize+int64(x.Off), int64(x.Len))
			}
		}
	}
}

// putObjects reads, compresses and puts the planned blocks as data
// objects, and points the segments at them.
func (u *Uploader) putObjects(ctx context.Context, d *delta, fd int) error {
	m := d.m
	jobs := packObjects(planFrames(d.aligned))
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
		for _, f := range r.frames {
			seg := d.segs[int(f.off/segmentSize)]
			soff := uint32(f.off % segmentSize)
			if f.hole {
				d.account(seg.Clear(soff, uint32(f.n)))
			} else {
				x := f.ext
				x.Off = soff
				d.account(seg.Put(x))
				o.Live += int64(x.Len)
			}
			first := int(soff / blockSize)
			for k, h := range f.hashes {
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
