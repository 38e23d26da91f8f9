package uploader

import (
	"bytes"
	"context"
	"errors"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// Reconcile compares inode id's backing file with what was last shipped
// of it, block by block, and records every block that differs, and a size
// or attribute change, as dirty. It is how syncfs finds the changes its
// journal did not see: writes a killed daemon had in memory (files marked
// open for write), and writes into the backing directory around the
// mount. It reads the whole file once (the price of not having seen the
// writes); it compares with the block hashes the journal kept at the last
// commit, or, when it has none, with the remote's segment manifests.
//
// It reports whether anything differed.
func (u *Uploader) Reconcile(ctx context.Context, id journal.ID) (bool, error) {
	unlock := u.locks.lock(id)
	defer unlock()
	kind, err := u.j.Kind(id)
	if errors.Is(err, journal.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	path, err := u.j.Path(id)
	if err != nil {
		return false, err
	}
	loc, err := u.openLocal(id, path, kind)
	if err != nil {
		return false, err
	}
	defer loc.close()
	fid := format.ID(id)
	m, err := u.cache.root(ctx, fid)
	if err != nil {
		return false, err
	}
	size := loc.st.Size
	seen := map[journal.ID]journal.Seen{id: seenOf(&loc.st)}
	if m == nil {
		// Never shipped: all of it.
		u.j.RecordWrite(id, 0, size)
		if err := u.j.Setattr(id); err != nil {
			return true, err
		}
		return true, u.j.SetSeen(seen)
	}
	changed := false
	probe := &format.Manifest{}
	loc.attrs(probe)
	if probe.Mode != m.Mode || probe.UID != m.UID || probe.GID != m.GID || !probe.Mtime.Equal(m.Mtime) || probe.Target != m.Target {
		changed = true
	}
	if kind != journal.KindFile {
		if changed {
			if err := u.j.Setattr(id); err != nil {
				return true, err
			}
		}
		return changed, u.j.SetSeen(seen)
	}
	if size < m.Size {
		if err := u.j.Truncate(id, m.Size, size); err != nil {
			return false, err
		}
		changed = true
	}
	buf := make([]byte, format.MaxFrameRaw)
	for seg := 0; seg < format.NumSegments(size); seg++ {
		want, err := u.shippedHashes(ctx, id, m, seg)
		if err != nil {
			return false, err
		}
		base := int64(seg) * format.SegmentSize
		segLen := format.SegmentLen(size, seg)
		for off := int64(0); off < segLen; off += int64(len(buf)) {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			n := min(int64(len(buf)), segLen-off)
			b := buf[:n]
			if hole(loc.fd, base+off, n) {
				clear(b)
			} else if err := preadFull(loc.fd, b, base+off); err != nil {
				return false, err
			}
			u.stats.ReadBytes.Add(n)
			for k := int64(0); k < n; k += format.BlockSize {
				blk := b[k:min(k+format.BlockSize, n)]
				idx := int((off + k) / format.BlockSize)
				h := format.BlockHash(blk)
				if idx*format.HashSize+format.HashSize > len(want) || !bytes.Equal(h[:], want[idx*format.HashSize:(idx+1)*format.HashSize]) {
					u.j.RecordWrite(id, base+off+k, int64(len(blk)))
					changed = true
				}
			}
		}
	}
	if changed {
		if err := u.j.Setattr(id); err != nil {
			return true, err
		}
	}
	// The journal now holds every difference of the file as it was when
	// opened: it is complete for that state.
	return changed, u.j.SetSeen(seen)
}

// shippedHashes returns the block hashes of segment seg as last shipped:
// from the journal, or from the remote's segment manifest.
func (u *Uploader) shippedHashes(ctx context.Context, id journal.ID, m *format.Manifest, seg int) ([]byte, error) {
	if seg >= len(m.Segments) {
		return nil, nil // past the shipped size: every block differs
	}
	if h := u.j.Hashes(id, seg); len(h) == int((format.SegmentLen(m.Size, seg)+format.BlockSize-1)/format.BlockSize)*format.HashSize {
		return h, nil
	}
	s, err := u.cache.segment(ctx, format.ID(id), m, seg)
	if err != nil {
		return nil, err
	}
	return flatHashes(s.Hashes), nil
}

// Unchanged reports whether the backing file of id still is as the
// journal last saw it complete (same size, mtime and ctime): then it
// needs no comparison.
func (u *Uploader) Unchanged(id journal.ID, st *unix.Stat_t) bool {
	s, ok := u.j.LastSeen(id)
	return ok && s == seenOf(st)
}
