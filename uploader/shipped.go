package uploader

import (
	"context"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
)

// What the uploader tells reconciliation (package reconcile) about the
// remote's copy of a file, from its manifest cache.

// Hold keeps every commit of id from starting until release is called, and
// waits for one under way to end: a comparison with what was shipped must
// not interleave with a commit that changes it.
func (u *Uploader) Hold(id journal.ID) (release func()) {
	return u.locks.lock(id)
}

// Manifest returns id's inode manifest as last shipped, nil if it was
// never shipped.
func (u *Uploader) Manifest(ctx context.Context, id journal.ID) (*format.Manifest, error) {
	return u.cache.root(ctx, format.ID(id))
}

// SegmentHashes returns the block hashes of segment seg of m, id's
// manifest, as the remote's segment manifest holds them.
func (u *Uploader) SegmentHashes(ctx context.Context, id journal.ID, m *format.Manifest, seg int) ([]byte, error) {
	s, err := u.cache.segment(ctx, format.ID(id), m, seg)
	if err != nil {
		return nil, err
	}
	return s.FlatHashes(), nil
}
