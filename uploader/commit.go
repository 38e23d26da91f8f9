package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
