package reconcile

import (
	"bytes"
	"context"
	"errors"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// compare compares inode id's backing file with what was last shipped
// of it, block by block, and records every block that differs, and a size
// or attribute change, as dirty. It is how syncfs finds the changes its
// journal did not see: writes a killed daemon had in memory (files marked
// open for write), and writes into the backing directory around the
// mount. It reads the whole file once (the price of not having seen the
// writes); it compares with the block hashes the journal kept at the last
// commit, or, when it has none, with the remote's segment manifests.
//
// It reports whether anything differed.
func (r *Reconciler) compare(ctx context.Context, id journal.ID) (bool, error) {
	defer r.shipped.Hold(id)()
	kind, err := r.j.Kind(id)
	if errors.Is(err, journal.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	path, err := r.j.Path(id)
	if err != nil {
		return false, err
	}
	loc, err := localfile.Open(r.dir, path, kind, func() (string, bool) { return r.j.Target(id) })
	if err != nil {
		return false, err
	}
	defer loc.Close()
	m, err := r.shipped.Manifest(ctx, id)
	if err != nil {
		return false, err
	}
	size := loc.St.Size
	seen := map[journal.ID]journal.Seen{id: journal.SeenOf(&loc.St)}
	if m == nil {
		// Never shipped: all of it.
		r.j.RecordWrite(id, 0, size)
		if err := r.j.Setattr(id); err != nil {
			return true, err
		}
		return true, r.j.SetSeen(seen)
	}
	changed := false
	probe := &format.Manifest{}
	loc.Attrs(probe)
	if probe.Mode != m.Mode || probe.UID != m.UID || probe.GID != m.GID || !probe.Mtime.Equal(m.Mtime) || probe.Target != m.Target {
		changed = true
	}
	if kind != journal.KindFile {
		if changed {
			if err := r.j.Setattr(id); err != nil {
				return true, err
			}
		}
		return changed, r.j.SetSeen(seen)
	}
	if size < m.Size {
		if err := r.j.Truncate(id, m.Size, size); err != nil {
			return false, err
		}
		changed = true
	}
	buf := make([]byte, format.MaxFrameRaw)
	for seg := 0; seg < format.NumSegments(size); seg++ {
		want, err := r.shippedHashes(ctx, id, m, seg)
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
			if localfile.Hole(loc.FD, base+off, n) {
				clear(b)
			} else if err := localfile.ReadFull(loc.FD, b, base+off); err != nil {
				return false, err
			}
			r.ReadBytes.Add(n)
			for k := int64(0); k < n; k += format.BlockSize {
				blk := b[k:min(k+format.BlockSize, n)]
				idx := int((off + k) / format.BlockSize)
				h := format.BlockHash(blk)
				if idx*format.HashSize+format.HashSize > len(want) || !bytes.Equal(h[:], want[idx*format.HashSize:(idx+1)*format.HashSize]) {
					r.j.RecordWrite(id, base+off+k, int64(len(blk)))
					changed = true
				}
			}
		}
	}
	if changed {
		if err := r.j.Setattr(id); err != nil {
			return true, err
		}
	}
	// The journal now holds every difference of the file as it was when
	// opened: it is complete for that state.
	return changed, r.j.SetSeen(seen)
}

// shippedHashes returns the block hashes of segment seg as last shipped:
// from the journal, or from the remote's segment manifest.
func (r *Reconciler) shippedHashes(ctx context.Context, id journal.ID, m *format.Manifest, seg int) ([]byte, error) {
	if seg >= len(m.Segments) {
		return nil, nil // past the shipped size: every block differs
	}
	if h := r.j.Hashes(id, seg); len(h) == int((format.SegmentLen(m.Size, seg)+format.BlockSize-1)/format.BlockSize)*format.HashSize {
		return h, nil
	}
	return r.shipped.SegmentHashes(ctx, id, m, seg)
}

// unchanged reports whether the backing file of id still is as the
// journal last saw it complete (same size, mtime and ctime): then it
// needs no comparison.
func (r *Reconciler) unchanged(id journal.ID, st *unix.Stat_t) bool {
	s, ok := r.j.LastSeen(id)
	return ok && s == journal.SeenOf(st)
}
