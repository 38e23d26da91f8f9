package uploader

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// takeSweep reports whether id's objects must be swept before its next
// commit, and clears the mark.
func (u *Uploader) takeSweep(id journal.ID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sweep[id]
	delete(u.sweep, id)
	return s
}

func (u *Uploader) markSweep(id journal.ID) {
	u.mu.Lock()
	u.sweep[id] = true
	u.mu.Unlock()
}

// sweepOrphans deletes the data objects and segment manifests of id that
// m does not refer to: what a commit interrupted before its manifest
// (or before its deletes) left behind.
func (u *Uploader) sweepOrphans(ctx context.Context, id format.ID, m *format.Manifest) error {
	live := map[uint64]bool{}
	liveSeg := map[string]bool{}
	if m != nil {
		for _, o := range m.Objects {
			live[o.Seq] = true
		}
		for i, s := range m.Segments {
			if s.Version != 0 {
				liveSeg[format.SegmentKey(id, uint32(i), s.Version)] = true
			}
		}
	}
	var garbage []string
	err := u.store.List(ctx, format.DataPrefix(id), func(o remote.ObjectInfo) error {
		if seq, ok := format.ParseDataKey(id, o.Key); !ok || !live[seq] {
			garbage = append(garbage, o.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = u.store.List(ctx, format.SegmentPrefix(id), func(o remote.ObjectInfo) error {
		if !liveSeg[o.Key] {
			garbage = append(garbage, o.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range garbage {
		if err := u.store.Delete(ctx, k); err != nil {
			return err
		}
		u.stats.Deleted.Add(1)
	}
	if len(garbage) > 0 {
		u.log.Printf("swept %d orphaned objects of inode %v", len(garbage), id)
	}
	return nil
}

// dropInode deletes everything of an inode that has no name left: its
// manifest first (so no reader starts on it), then its objects.
func (u *Uploader) dropInode(ctx context.Context, id journal.ID) error {
	unlock := u.locks.lock(id)
	defer unlock()
	fid := format.ID(id)
	if err := u.store.Delete(ctx, format.InodeKey(fid)); err != nil {
		return fmt.Errorf("deleting inode %v: %w", fid, err)
	}
	u.cache.forget(fid)
	var keys []string
	for _, prefix := range []string{format.DataPrefix(fid), format.SegmentPrefix(fid)} {
		err := u.store.List(ctx, prefix, func(o remote.ObjectInfo) error {
			keys = append(keys, o.Key)
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := u.store.Delete(ctx, k); err != nil && !errors.Is(err, remote.ErrNotFound) {
			return err
		}
		u.stats.Deleted.Add(1)
	}
	return nil
}
