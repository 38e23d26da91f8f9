package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

const (
	blockSize   = format.BlockSize
	segmentSize = format.SegmentSize
)

// compactBelow: an object whose live bytes fall below this fraction of
// what it was written with has its remaining live ranges shipped again,
// so it can be deleted. Rewriting a quarter at most, and only after three
// quarters were superseded by shipped writes, keeps compaction's cost a
// fraction of the writes that caused it.
const compactBelow = 4 // live*4 < raw

// commit claims inode id's pending changes, ships them and acknowledges
// the claim. Nothing to ship is not an error.
func (u *Uploader) commit(ctx context.Context, id journal.ID) error {
	unlock := u.locks.lock(id)
	defer unlock()
	c, ok, err := u.j.Claim(id)
	if err != nil || !ok {
		return err
	}
	if u.cfg.AfterClaim != nil {
		u.cfg.AfterClaim(id)
	}
	dirty := c.Ranges
	if c.Shrunk {
		// Bytes cut by a truncate and not written since are zeros now
		// if the file grew back; ship them as such (holes: no reads).
		dirty = dirty.Clone().Add(c.MinSize, 1<<62-c.MinSize)
	}
	path, shipped, err := u.ship(ctx, id, dirty)
	if err != nil {
		// The claim must go back whatever it takes: a claim left in
		// flight is never claimed again (until a restart), and its bytes
		// would stay pending for ever.
		u.settleClaim(ctx, id, path, "returning the claim", func() error { return u.j.Unclaim(c) })
		if errors.Is(err, localfile.ErrMoved) {
			u.noteMoved(id, path, err)
		} else {
			u.noteError(id, path, err)
		}
		return err
	}
	if shipped == nil && path == "" && id != journal.RootID {
		u.stats.Vanished.Add(1) // removed before it shipped: nothing to do
	}
	ack := func() error { return u.j.Ack(c) }
	if shipped != nil {
		ack = func() error { return u.j.AckShipped(c, *shipped) }
	}
	if err := u.settleClaim(ctx, id, path, "acknowledging the upload", ack); err != nil {
		return err
	}
	u.stats.Commits.Add(1)
	u.noteSuccess(id)
	return nil
}

// settleClaim runs fn (an Ack or an Unclaim) until it succeeds or ctx
// ends. They fail only when the journal cannot commit (a full or failing
// state disk); once it can again they must happen, or the claim would
// stay in flight and its bytes pending until the next start. The first
// failure is noted as an error of the inode; success clears it.
func (u *Uploader) settleClaim(ctx context.Context, id journal.ID, path, what string, fn func() error) error {
	wait := 100 * time.Millisecond
	for tries := 0; ; tries++ {
		err := fn()
		if err == nil {
			return nil
		}
		if tries == 0 {
			u.noteError(id, path, fmt.Errorf("%s: %w (retrying until the journal can commit)", what, err))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err // still in flight: the next start requeues it
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// ship writes inode id to the store as it is now in the backing
// directory, re-reading the byte ranges dirty (and whatever else the
// format needs rewritten), and returns what it shipped (nil when the
// inode is gone). Callers hold the inode's lock.
func (u *Uploader) ship(ctx context.Context, id journal.ID, dirty ranges.Set) (string, *journal.Shipped, error) {
	fid := format.ID(id)
	kind, err := u.j.Kind(id)
	if errors.Is(err, journal.ErrNotFound) {
		return "", nil, nil // unlinked since the claim: the op removes it remotely
	}
	if err != nil {
		return "", nil, err
	}
	path, err := u.j.Path(id)
	if errors.Is(err, journal.ErrNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	loc, err := u.openLocal(id, path, kind)
	if err != nil {
		return path, nil, err
	}
	defer loc.Close()

	old, err := u.cache.root(ctx, fid)
	if err != nil {
		return path, nil, err
	}
	if u.takeSweep(id) {
		if err := u.sweepOrphans(ctx, fid, old); err != nil {
			u.markSweep(id)
			return path, nil, err
		}
	}
	m := &format.Manifest{Kind: format.Kind(kind), Version: 1, NextSeq: 1}
	if old != nil {
		m = cloneManifest(old)
		m.Version = old.Version + 1
		m.Kind = format.Kind(kind)
	}
	loc.Attrs(m)

	shipped := &journal.Shipped{Seen: journal.SeenOf(&loc.St)}
	var gc []string
	if kind == journal.KindFile {
		d, err := u.shipData(ctx, fid, loc, dirty, old, m)
		if err != nil {
			return path, nil, err
		}
		gc = d.garbage
		shipped.Segments, shipped.Hashes = len(m.Segments), d.hashes
	}
	m.SetDigest()
	u.failpoint("after-put")
	body := m.Encode()
	if len(body) > format.MaxManifest {
		return path, nil, fmt.Errorf("file of %d bytes: its manifest (%d bytes) is larger than readers accept (%d); syncfs ships files up to about 94 TiB", m.Size, len(body), format.MaxManifest)
	}
	if err := u.store.Put(ctx, format.InodeKey(fid), bytes.NewReader(body), int64(len(body)), remote.PutOptions{}); err != nil {
		u.cache.forget(fid) // segments may be half written: reload from the store
		return path, nil, err
	}
	u.stats.SentBytes.Add(int64(len(body)))
	u.cache.setRoot(fid, m)
	u.failpoint("after-manifest")
	u.deleteKeys(ctx, id, gc)
	shipped.Version = m.Version
	return path, shipped, nil
}

// dataResult is what shipping a file's bytes leaves to do after the
// inode manifest is committed.
type dataResult struct {
	garbage []string       // keys the new manifest no longer refers to
	hashes  map[int][]byte // block hashes of the segments rewritten
}

// shipData puts the data objects and segment manifests for the file's
// dirty ranges and fills m's segment and object tables.
func (u *Uploader) shipData(ctx context.Context, id format.ID, loc *localfile.File, dirty ranges.Set, old, m *format.Manifest) (*dataResult, error) {
	size := loc.St.Size
	if size > format.MaxFileSize {
		return nil, fmt.Errorf("file of %d bytes is larger than the format's 1 PiB", size)
	}
	var oldSize int64
	if old != nil {
		oldSize = old.Size
	}
	m.Size = size
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
	aligned := want.Align(blockSize, size)

	nseg := format.NumSegments(size)
	touched := map[int]bool{}
	for _, r := range aligned {
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
	res := &dataResult{hashes: map[int][]byte{}}
	segs := map[int]*format.Segment{}
	account := func(removed []format.Extent) {
		for _, x := range removed {
			if o, ok := m.Object(x.Seq); ok {
				o.Live -= int64(x.Len)
			}
		}
	}
	// Segments past the new end: their extents die, their manifests go.
	if old != nil {
		for i := nseg; i < len(old.Segments); i++ {
			if old.Segments[i].Version == 0 {
				continue
			}
			s, err := u.cache.segment(ctx, id, old, i)
			if err != nil {
				return nil, err
			}
			account(s.Extents)
			res.garbage = append(res.garbage, format.SegmentKey(id, uint32(i), old.Segments[i].Version))
		}
	}
	refs := make([]format.SegmentRef, nseg)
	if old != nil {
		copy(refs, old.Segments)
	}
	for i := range refs {
		if old == nil || i >= len(old.Segments) {
			refs[i] = format.SegmentRef{Digest: zeroDigest(i, size)}
		}
	}
	for i := range touched {
		if i >= nseg {
			continue
		}
		s, err := u.cache.segment(ctx, id, old, i)
		if err != nil {
			return nil, err
		}
		account(s.Resize(size))
		segs[i] = s
	}
	// Compaction: live ranges of mostly dead objects ship again.
	for i, s := range segs {
		for _, x := range s.Extents {
			if o, ok := m.Object(x.Seq); ok && o.Live*compactBelow < o.Raw {
				aligned = aligned.Add(int64(i)*segmentSize+int64(x.Off), int64(x.Len))
			}
		}
	}

	jobs := packObjects(planFrames(aligned))
	for i := range jobs {
		jobs[i].seq = m.NextSeq
		m.NextSeq++
	}
	results, err := u.runJobs(ctx, id, loc.FD, jobs)
	if err != nil {
		return nil, err
	}
	var added []format.Object
	for _, r := range results {
		o := format.Object{Seq: r.seq, Stored: r.stored, Raw: r.raw}
		for _, f := range r.frames {
			seg := segs[int(f.off/segmentSize)]
			soff := uint32(f.off % segmentSize)
			if f.hole {
				account(seg.Clear(soff, uint32(f.n)))
			} else {
				x := f.ext
				x.Off = soff
				account(seg.Put(x))
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
		res.garbage = append(res.garbage, format.DataKey(id, seq))
	}

	// Segment manifests: new versions of what changed.
	for i, s := range segs {
		res.hashes[i] = flatHashes(s.Hashes)
		if old != nil && i < len(old.Segments) && old.Segments[i].Version != 0 {
			res.garbage = append(res.garbage, format.SegmentKey(id, uint32(i), old.Segments[i].Version))
		}
		if len(s.Extents) == 0 && allZeroHashes(s, size) {
			refs[i] = format.SegmentRef{Digest: zeroDigest(i, size)}
			continue
		}
		s.Version = m.Version
		body := s.Encode()
		if err := u.store.Put(ctx, format.SegmentKey(id, uint32(i), s.Version), bytes.NewReader(body), int64(len(body)), remote.PutOptions{}); err != nil {
			return nil, err
		}
		u.stats.SentBytes.Add(int64(len(body)))
		u.cache.putSegment(id, s)
		refs[i] = format.SegmentRef{Version: s.Version, CRC: format.CRC(body), Digest: s.Digest()}
	}
	m.Segments = refs
	return res, nil
}

func flatHashes(h [][format.HashSize]byte) []byte {
	b := make([]byte, 0, len(h)*format.HashSize)
	for _, x := range h {
		b = append(b, x[:]...)
	}
	return b
}

// allZeroHashes: every block of s is zeros (a segment that needs no
// manifest).
func allZeroHashes(s *format.Segment, size int64) bool {
	z := format.ZeroSegment(int(s.Index), size)
	for k, h := range s.Hashes {
		if h != z.Hashes[k] {
			return false
		}
	}
	return true
}

var zeroDigests sync.Map // segment length -> [32]byte

// zeroDigest is the digest of segment i of a file of size bytes that
// holds only zeros.
func zeroDigest(i int, size int64) [32]byte {
	n := format.SegmentLen(size, i)
	if v, ok := zeroDigests.Load(n); ok {
		return v.([32]byte)
	}
	d := format.ZeroSegment(i, size).Digest()
	zeroDigests.Store(n, d)
	return d
}

func (u *Uploader) failpoint(name string) {
	if u.cfg.Failpoint != nil {
		u.cfg.Failpoint(name)
	}
}

// deleteKeys deletes what no manifest refers to any more. A failure only
// leaves garbage, which the next sweep of the inode removes.
func (u *Uploader) deleteKeys(ctx context.Context, id journal.ID, keys []string) {
	for _, k := range keys {
		if err := u.store.Delete(ctx, k); err != nil {
			u.log.Printf("deleting %s: %v (left for a later sweep)", k, err)
			u.markSweep(id)
			continue
		}
		u.stats.Deleted.Add(1)
	}
}
