package uploader

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// replayOps applies the journal's namespace operations to the remote, in
// order, and acknowledges them. Ops that touch different keys run at once
// (a tar -x of 10,000 files is 10,000 dentry puts, and one at a time they
// took longer than the untar); an op that touches a key an earlier op of
// the batch touches waits for it (waves, below). It stops at the first
// failure, acknowledging only the ops before the failing wave; the rest
// is tried again next time (every op is idempotent: a put or a delete of
// a fixed key).
func (u *Uploader) replayOps(ctx context.Context) (int, error) {
	done := 0
	for {
		ops, err := u.j.Ops(0, 1024)
		if err != nil || len(ops) == 0 {
			return done, err
		}
		n, err := u.applyWaves(ctx, shortcut(ops))
		if n > 0 {
			if aerr := u.j.AckOps(ops[n-1].Seq); aerr != nil && err == nil {
				err = aerr
			}
			done += n
			u.noteProgress()
		}
		if err != nil {
			return done, err
		}
	}
}

// shortcut returns ops without the remote work of short-lived files: a
// file created and removed again within one batch (a SQLite -journal, an
// editor's temp file) never needs its dentry in the remote, so its create
// is dropped and its unlink only deletes whatever objects of its inode
// were shipped meanwhile (an inode commit runs beside the replay; after a
// crash a previous daemon may even have shipped them). The result has
// the same length and order (acknowledging by index stays right); a
// dropped op becomes an attribute op, which the replay skips.
func shortcut(ops []journal.Op) []journal.Op {
	var out []journal.Op
	created := map[journal.ID]int{} // inode -> index of its create in this batch
	for i, op := range ops {
		switch op.Type {
		case journal.OpCreate:
			if op.Replaced == 0 && op.Kind == journal.KindFile {
				created[op.ID] = i
			}
		case journal.OpUnlink:
			c, ok := created[op.ID]
			if !ok || !op.Dead || ops[c].Parent != op.Parent || ops[c].Name != op.Name {
				break
			}
			if out == nil {
				out = slices.Clone(ops)
			}
			out[c] = journal.Op{Seq: ops[c].Seq, Type: journal.OpSetattr, ID: op.ID}
			out[i].Type = opDropOnly
		}
		switch op.Type {
		case journal.OpRename, journal.OpLink:
			delete(created, op.ID) // it has another name now: no shortcut
		}
	}
	if out == nil {
		return ops
	}
	return out
}

// opDropOnly is an unlink whose create was dropped by shortcut: only the
// inode's objects are deleted.
const opDropOnly journal.OpType = 250

// replayParallel bounds the ops of a wave in flight at once (the store
// below bounds its requests again).
const replayParallel = 16

// applyWaves applies ops in waves of ops that touch distinct keys (dentry
// names, and inodes whose objects an op deletes), each wave at once and
// the waves in order, and returns how many ops, from the first, are done.
func (u *Uploader) applyWaves(ctx context.Context, ops []journal.Op) (int, error) {
	start := 0
	for start < len(ops) {
		used := map[string]bool{}
		end := start
		for ; end < len(ops); end++ {
			keys := opKeys(ops[end])
			clash := false
			for _, k := range keys {
				clash = clash || used[k]
			}
			if clash {
				break
			}
			for _, k := range keys {
				used[k] = true
			}
		}
		wave := ops[start:end]
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		sem := make(chan struct{}, replayParallel)
		for i, op := range wave {
			if len(opKeys(op)) == 0 {
				continue // attribute ops ship with the inode's next commit
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs[i] = u.applyOp(ctx, op)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return start, err
		}
		start = end
	}
	return start, nil
}

// opKeys names what op changes in the remote: "n" + dentry, "i" + inode.
func opKeys(op journal.Op) []string {
	dentry := func(dir journal.ID, name string) string { return "n" + format.DentryKey(format.ID(dir), name) }
	inode := func(id journal.ID) string { return "i" + id.String() }
	var keys []string
	switch op.Type {
	case journal.OpCreate, journal.OpLink:
		keys = append(keys, dentry(op.Parent, op.Name))
	case journal.OpUnlink, journal.OpRmdir:
		keys = append(keys, dentry(op.Parent, op.Name))
		if op.Dead {
			keys = append(keys, inode(op.ID))
		}
		return keys
	case opDropOnly:
		return []string{inode(op.ID)}
	case journal.OpRename:
		keys = append(keys, dentry(op.Parent, op.Name), dentry(op.NewParent, op.NewName))
	default:
		return nil
	}
	if op.Replaced != 0 && op.Dead {
		keys = append(keys, inode(op.Replaced))
	}
	return keys
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
	case opDropOnly:
		u.stats.Shortcuts.Add(1)
		return u.dropInode(ctx, op.ID)
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
