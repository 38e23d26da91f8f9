package browse

import (
	"context"
	"fmt"
	"io"

	"github.com/syncfs/syncfs/format"
)

// File is one version of a regular file: reads through it come from that
// version only.
type File struct {
	t      *Tree
	id     format.ID
	m      *format.Manifest
	noPuts bool // frames fetched for it are not written to the disk cache
}

// File returns the file inode id is in manifest m.
func (t *Tree) File(id format.ID, m *format.Manifest) *File { return &File{t: t, id: id, m: m} }

// OpenFile reads the current manifest of inode id, which must be a
// regular file.
func (t *Tree) OpenFile(ctx context.Context, id format.ID) (*File, error) {
	m, err := t.Stat(ctx, id)
	if err != nil {
		return nil, err
	}
	switch m.Kind {
	case format.KindFile:
		return t.File(id, m), nil
	case format.KindDir:
		return nil, fmt.Errorf("inode %v: %w", id, ErrIsDir)
	}
	return nil, fmt.Errorf("inode %v is a %v, not a file", id, m.Kind)
}

// ID returns the file's inode ID.
func (f *File) ID() format.ID { return f.id }

// Manifest returns the version of the file f reads. Do not modify it.
func (f *File) Manifest() *format.Manifest { return f.m }

// Size returns the file's size in this version.
func (f *File) Size() int64 { return f.m.Size }

// WithoutCachePuts returns f reading the same version, but leaving what
// it fetches out of the disk cache: a reader that keeps the bytes another
// way (the mount's passthrough images) does not write them twice.
func (f *File) WithoutCachePuts() *File {
	c := *f
	c.noPuts = true
	return &c
}

// Tree returns the tree f belongs to.
func (f *File) Tree() *Tree { return f.t }

// piece is part of a read served by a frame: p[dst:dst+n] is
// raw[skip:skip+n] of frame fr.
type piece struct {
	dst  int
	n    int
	skip uint32
	fr   frameRef
}

// ReadAt reads len(p) bytes at off, like io.ReaderAt: fewer only at the
// end of the file, with io.EOF. It fetches only the frames that cover the
// range (or finds them cached). Every byte comes from f's version; if
// that version's objects are gone the error wraps ErrStale.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= f.m.Size {
		return 0, io.EOF
	}
	n, eof := len(p), false
	if int64(n) > f.m.Size-off {
		n, eof = int(f.m.Size-off), true
	}
	p = p[:n]
	pieces, err := f.plan(ctx, off, n)
	if err != nil {
		return 0, err
	}
	if err := f.fill(ctx, p, pieces); err != nil {
		return 0, err
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// plan maps [off, off+n) to pieces of frames, in order; bytes no piece
// covers are zeros.
func (f *File) plan(ctx context.Context, off int64, n int) ([]piece, error) {
	var pieces []piece
	end := off + int64(n)
	for pos := off; pos < end; {
		s := int(pos / format.SegmentSize)
		segStart := int64(s) * format.SegmentSize
		segEnd := min(segStart+format.SegmentSize, end)
		if f.m.Segments[s].Version != 0 {
			seg, err := f.Segment(ctx, s)
			if err != nil {
				return nil, err
			}
			a, b := uint32(pos-segStart), uint32(segEnd-segStart)
			for _, x := range seg.Find(a, b-a) {
				fr, err := f.frameRef(x)
				if err != nil {
					return nil, err
				}
				lo, hi := max(x.Off, a), min(x.End(), b)
				pieces = append(pieces, piece{dst: int(segStart + int64(lo) - off), n: int(hi - lo), skip: x.Skip + (lo - x.Off), fr: fr})
			}
		}
		pos = segEnd
	}
	return pieces, nil
}

// frameRef checks that extent x points inside an object f's manifest
// lists, and names its frame.
func (f *File) frameRef(x format.Extent) (frameRef, error) {
	o, ok := f.m.Object(x.Seq)
	if !ok {
		f.t.warn.corrupt("%s: inode %v version %d: an extent refers to data object %d, which the manifest does not list", f.t.store, f.id, f.m.Version, x.Seq)
		return frameRef{}, fmt.Errorf("%w: inode %v: extent refers to unlisted data object %d", ErrCorrupt, f.id, x.Seq)
	}
	if stored := uint64(o.Stored); x.FrameOff > stored || uint64(x.FrameLen) > stored-x.FrameOff {
		f.t.warn.corrupt("%s: inode %v version %d: a frame at %d+%d lies past the end of data object %d (%d bytes)", f.t.store, f.id, f.m.Version, x.FrameOff, x.FrameLen, x.Seq, o.Stored)
		return frameRef{}, fmt.Errorf("%w: inode %v: frame past the end of data object %d", ErrCorrupt, f.id, x.Seq)
	}
	return frameRef{seq: x.Seq, off: x.FrameOff, stored: x.FrameLen, raw: x.RawLen, codec: x.Codec, crc: x.CRC}, nil
}

// fill copies the pieces' bytes into p and zeros the rest. A frame in
// memory is copied from; a frame only a small part of which is needed
// (a random read) is read from the disk cache block by block, without
// reading the whole frame; the others are got whole by frames.
func (f *File) fill(ctx context.Context, p []byte, pieces []piece) error {
	cursor := 0
	for _, pc := range pieces {
		clear(p[cursor:pc.dst])
		cursor = pc.dst + pc.n
	}
	clear(p[cursor:])

	need := make(map[frameRef]int, len(pieces))
	var order []frameRef
	for _, pc := range pieces {
		if _, ok := need[pc.fr]; !ok {
			order = append(order, pc.fr)
		}
		need[pc.fr] += pc.n
	}
	done := make(map[frameRef]bool, len(order))
	var fetch []frameRef
	for _, fr := range order {
		switch {
		case f.t.cachedFrame(frameKey{f.id, fr}) != nil:
			// copied below, with the fetched ones
		case f.t.opts.Cache != nil && need[fr]*smallRead <= int(fr.raw) && f.readCached(p, pieces, fr):
			done[fr] = true
			continue
		}
		fetch = append(fetch, fr)
	}
	frames, err := f.t.frames(ctx, f.id, fetch, !f.noPuts)
	if err != nil {
		return err
	}
	for _, pc := range pieces {
		if !done[pc.fr] {
			raw := frames[pc.fr]
			copy(p[pc.dst:pc.dst+pc.n], raw[pc.skip:int(pc.skip)+pc.n])
		}
	}
	return nil
}

// smallRead: a read needing less than 1/smallRead of a frame reads only
// its blocks from the disk cache.
const smallRead = 4

// readCached reads the pieces of frame fr from the disk cache, block by
// block; false if any is missing.
func (f *File) readCached(p []byte, pieces []piece, fr frameRef) bool {
	k := f.t.cacheKey(f.id, fr)
	for _, pc := range pieces {
		if pc.fr == fr && !f.t.opts.Cache.ReadAt(k, int(fr.raw), fr.crc, p[pc.dst:pc.dst+pc.n], int(pc.skip)) {
			return false
		}
	}
	return true
}

// Prefetch starts fetching, in the background, the frames that cover
// [off, off+n) into the caches (all their runs at once, within the
// Tree's GET slots), unless too many prefetches already run.
func (f *File) Prefetch(off, n int64) {
	if n <= 0 || off >= f.m.Size {
		return
	}
	n = min(n, f.m.Size-off, MaxWindow)
	select {
	case f.t.prefetchSem <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-f.t.prefetchSem }()
		ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
		defer cancel()
		pieces, err := f.plan(ctx, off, int(n))
		if err != nil {
			return
		}
		refs := make([]frameRef, 0, len(pieces))
		for _, pc := range pieces {
			refs = append(refs, pc.fr)
		}
		f.t.frames(ctx, f.id, dedupRefs(refs), !f.noPuts)
	}()
}

// View returns the n bytes at off without copying them, if they lie in
// one frame: a slice of the cached frame, which must not be modified. It
// returns nil when they do not (a hole, or several frames): use ReadAt.
// Like ReadAt, it serves f's version only.
func (f *File) View(ctx context.Context, off int64, n int) ([]byte, error) {
	if off < 0 || n <= 0 || off+int64(n) > f.m.Size || off/format.SegmentSize != (off+int64(n)-1)/format.SegmentSize {
		return nil, nil
	}
	pieces, err := f.plan(ctx, off, n)
	if err != nil || len(pieces) != 1 || pieces[0].n != n {
		return nil, err
	}
	pc := pieces[0]
	if pc.n*smallRead < int(pc.fr.raw) && f.t.cachedFrame(frameKey{f.id, pc.fr}) == nil {
		return nil, nil // a small read: ReadAt reads just its blocks
	}
	frames, err := f.t.frames(ctx, f.id, []frameRef{pc.fr}, !f.noPuts)
	if err != nil {
		return nil, err
	}
	return frames[pc.fr][pc.skip : int(pc.skip)+n : int(pc.skip)+n], nil
}

func dedupRefs(refs []frameRef) []frameRef {
	seen := make(map[frameRef]bool, len(refs))
	out := refs[:0]
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
