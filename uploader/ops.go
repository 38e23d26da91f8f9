package uploader

import (
	"bytes"
	"context"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// replayOps applies the journal's namespace operations to the remote, in
// order, and acknowledges them. It stops at the first failure so that
// the order holds; the failed op is tried again next time (every op is
// idempotent: a put or a delete of a fixed key).
func (u *Uploader) replayOps(ctx context.Context) (int, error) {
	done := 0
	for {
		ops, err := u.j.Ops(0, 256)
		if err != nil || len(ops) == 0 {
			return done, err
		}
		var last uint64
		for _, op := range ops {
			if err := u.applyOp(ctx, op); err != nil {
				if last > 0 {
					u.j.AckOps(last)
				}
				return done, err
			}
			last = op.Seq
			done++
		}
		if err := u.j.AckOps(last); err != nil {
			return done, err
		}
		u.noteProgress()
	}
}

func (u *Uploader) applyOp(ctx context.Context, op journal.Op) error {
	switch op.Type {
	case journal.OpCreate, journal.OpLink:
		if err := u.putDentry(ctx, op.Parent, op.Name, op.ID, op.Kind); err != nil {
			return err
		}
		if op.Replaced != 0 && op.Dead {
			return u.dropInode(ctx, op.Replaced)
		}
	case journal.OpUnlink, journal.OpRmdir:
		if err := u.deleteDentry(ctx, op.Parent, op.Name); err != nil {
			return err
		}
		if op.Dead {
			return u.dropInode(ctx, op.ID)
		}
	case journal.OpRename:
		if op.Exchange {
			if err := u.putDentry(ctx, op.Parent, op.Name, op.Replaced, op.ReplacedKind); err != nil {
				return err
			}
			return u.putDentry(ctx, op.NewParent, op.NewName, op.ID, op.Kind)
		}
		if err := u.putDentry(ctx, op.NewParent, op.NewName, op.ID, op.Kind); err != nil {
			return err
		}
		if err := u.deleteDentry(ctx, op.Parent, op.Name); err != nil {
			return err
		}
		if op.Replaced != 0 && op.Dead {
			return u.dropInode(ctx, op.Replaced)
		}
	}
	// Attribute ops ship with the inode's next commit.
	return nil
}

func (u *Uploader) putDentry(ctx context.Context, dir journal.ID, name string, id journal.ID, kind journal.Kind) error {
	body := format.Dentry{Kind: format.Kind(kind), ID: format.ID(id), Name: name}.Encode()
	if err := u.store.Put(ctx, format.DentryKey(format.ID(dir), name), bytes.NewReader(body), int64(len(body)), remote.PutOptions{}); err != nil {
		return err
	}
	u.stats.SentBytes.Add(int64(len(body)))
	return nil
}

func (u *Uploader) deleteDentry(ctx context.Context, dir journal.ID, name string) error {
	return u.store.Delete(ctx, format.DentryKey(format.ID(dir), name))
}
