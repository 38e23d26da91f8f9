package journal

import (
	"errors"
	"fmt"
	"path"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is wrapped by errors about names or IDs the journal does not
// know.
var ErrNotFound = errors.New("not in journal")

// Lookup returns the inode named name in directory parent, as the
// namespace ops recorded so far left it (committed or queued).
func (j *Journal) Lookup(parent ID, name string) (ID, Kind, bool) {
	j.mu.Lock()
	e, queued := j.ovl[string(dentryKey(parent, name))]
	j.mu.Unlock()
	if queued {
		return e.id, e.kind, !e.gone
	}
	var id ID
	var kind Kind
	j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDentries).Get(dentryKey(parent, name))
		if v != nil {
			id, kind, _ = decodeDentry(v)
		}
		return nil
	})
	return id, kind, id != 0
}

// Path returns a '/'-separated path of id relative to the root ("" for the
// root itself).
func (j *Journal) Path(id ID) (string, error) {
	var p string
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		p, err = pathOf(tx, id)
		return err
	})
	return p, err
}

func pathOf(tx *bolt.Tx, id ID) (string, error) {
	inodes := tx.Bucket(bucketInodes)
	var parts []string
	for depth := 0; id != RootID; depth++ {
		if depth > 4096 {
			return "", fmt.Errorf("%w: inode %v: parent chain loops", errCorruptRecord, id)
		}
		v := inodes.Get(idKey(id))
		if v == nil {
			return "", fmt.Errorf("inode %v: %w", id, ErrNotFound)
		}
		n, err := decodeInode(v)
		if err != nil {
			return "", err
		}
		parts = append(parts, n.Name)
		id = n.Parent
	}
	for i, k := 0, len(parts)-1; i < k; i, k = i+1, k-1 {
		parts[i], parts[k] = parts[k], parts[i]
	}
	return path.Join(parts...), nil
}

// Create records a new inode of the given kind at (parent, name) and
// returns its ID. A name already there is replaced, as rename over it
// would. For a symlink, target is its content. It does not wait for the
// commit (see async.go).
func (j *Journal) Create(parent ID, name string, kind Kind, target string) (ID, error) {
	return j.createAsync(parent, name, kind, target, false)
}

// Adopt records an inode found in the backing directory that the journal
// did not know (written before the mount, or around it). Its whole content,
// size bytes, is dirty.
func (j *Journal) Adopt(parent ID, name string, kind Kind, target string, size int64) (ID, error) {
	return j.create(parent, name, kind, target, size)
}

func (j *Journal) create(parent ID, name string, kind Kind, target string, adoptSize int64) (ID, error) {
	var id ID
	err := j.update(func(tx *bolt.Tx) error {
		var err error
		id, err = j.createTx(tx, j.allocID(), parent, name, kind, target, adoptSize)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// createTx records inode id (from allocID) at (parent, name).
func (j *Journal) createTx(tx *bolt.Tx, id, parent ID, name string, kind Kind, target string, adoptSize int64) (ID, error) {
	if err := checkDir(tx, parent); err != nil {
		return 0, err
	}
	meta := tx.Bucket(bucketMeta)
	// IDs are handed out in memory (a queued create needs its ID before
	// its commit); next_id records the high-water mark, so a restart
	// never hands out an ID a committed inode has.
	if next := keyID(meta.Get(keyNextID)); id >= next {
		if err := meta.Put(keyNextID, u64(uint64(id)+1)); err != nil {
			return 0, err
		}
	}
	op := Op{Type: OpCreate, ID: id, Kind: kind, Parent: parent, Name: name, Target: target, Adopted: adoptSize >= 0}
	replaced, dead, err := unlinkName(tx, parent, name)
	if err != nil {
		return 0, err
	}
	op.Replaced, op.Dead = replaced, dead
	if err := tx.Bucket(bucketInodes).Put(idKey(id), inode{Kind: kind, Nlink: 1, Parent: parent, Name: name}.encode()); err != nil {
		return 0, err
	}
	if err := tx.Bucket(bucketDentries).Put(dentryKey(parent, name), encodeDentry(id, kind)); err != nil {
		return 0, err
	}
	if kind == KindSymlink {
		if err := tx.Bucket(bucketTargets).Put(idKey(id), []byte(target)); err != nil {
			return 0, err
		}
	}
	gen := j.logOp(tx, op)
	p := pending{Gen: gen, AttrDirty: true}
	if adoptSize > 0 && kind == KindFile {
		p.Ranges = p.Ranges.Add(0, adoptSize)
	}
	return id, mergeDirty(tx.Bucket(bucketDirty), id, p)
}

func checkDir(tx *bolt.Tx, id ID) error {
	v := tx.Bucket(bucketInodes).Get(idKey(id))
	if v == nil {
		return fmt.Errorf("directory %v: %w", id, ErrNotFound)
	}
	n, err := decodeInode(v)
	if err != nil {
		return err
	}
	if n.Kind != KindDir {
		return fmt.Errorf("inode %v is a %v, not a directory", id, n.Kind)
	}
	return nil
}

// logOp appends op to the log with the next generation as its seq.
func (j *Journal) logOp(tx *bolt.Tx, op Op) uint64 {
	j.mu.Lock()
	op.Seq = j.nextGenLocked()
	j.mu.Unlock()
	tx.Bucket(bucketOps).Put(u64(op.Seq), op.encode())
	return op.Seq
}

// unlinkName removes the dentry (parent, name) if there is one and drops a
// link of its inode. It returns the inode and whether that was its last
// name, in which case the inode and its pending work are gone.
func unlinkName(tx *bolt.Tx, parent ID, name string) (ID, bool, error) {
	dents := tx.Bucket(bucketDentries)
	k := dentryKey(parent, name)
	v := dents.Get(k)
	if v == nil {
		return 0, false, nil
	}
	id, _, err := decodeDentry(v)
	if err != nil {
		return 0, false, err
	}
	if err := dents.Delete(k); err != nil {
		return 0, false, err
	}
	dead, err := dropLink(tx, id, parent, name)
	return id, dead, err
}

func dropLink(tx *bolt.Tx, id, parent ID, name string) (bool, error) {
	inodes := tx.Bucket(bucketInodes)
	v := inodes.Get(idKey(id))
	if v == nil {
		return true, nil
	}
	n, err := decodeInode(v)
	if err != nil {
		return false, err
	}
	if n.Nlink <= 1 || n.Kind == KindDir {
		if n.Kind == KindDir {
			removeSubtree(tx, id)
		}
		for _, b := range [][]byte{bucketInodes, bucketDirty, bucketInFlight, bucketOpen, bucketTargets} {
			tx.Bucket(b).Delete(idKey(id))
		}
		dropShipped(tx, id)
		return true, nil
	}
	n.Nlink--
	if n.Parent == parent && n.Name == name {
		// The name Path used is gone: find another.
		n.Parent, n.Name = findName(tx, id)
	}
	return false, inodes.Put(idKey(id), n.encode())
}

// removeSubtree drops whatever the journal still holds under directory id.
// The kernel only removes empty directories, so this only finds entries
// when the backing directory was changed behind the mount's back.
func removeSubtree(tx *bolt.Tx, dir ID) {
	c := tx.Bucket(bucketDentries).Cursor()
	prefix := idKey(dir)
	var names []string
	for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		names = append(names, string(k[8:]))
	}
	for _, name := range names {
		unlinkName(tx, dir, name)
	}
}

// findName returns some dentry naming id, by a full scan; only needed when
// a hard-linked file loses the name the journal used for it.
func findName(tx *bolt.Tx, id ID) (ID, string) {
	var parent ID
	var name string
	tx.Bucket(bucketDentries).ForEach(func(k, v []byte) error {
		if child, _, err := decodeDentry(v); err == nil && child == id && len(k) >= 8 {
			parent, name = keyID(k[:8]), string(k[8:])
			return errStop
		}
		return nil
	})
	return parent, name
}

var errStop = errors.New("stop")

// Remove records that (parent, name) was unlinked (or, for a directory,
// removed with rmdir).
// It does not wait for the commit (see async.go); a name the journal does
// not have (a reconciler removed it first) is no error.
func (j *Journal) Remove(parent ID, name string) error {
	return j.queue(fmt.Sprintf("unlink %q in %v", name, parent), []ovlEdit{{parent, name, ovlEntry{gone: true}}}, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDentries).Get(dentryKey(parent, name))
		if v == nil {
			return nil
		}
		id, kind, err := decodeDentry(v)
		if err != nil {
			return err
		}
		_, dead, err := unlinkName(tx, parent, name)
		if err != nil {
			return err
		}
		t := OpUnlink
		if kind == KindDir {
			t = OpRmdir
		}
		j.logOp(tx, Op{Type: t, ID: id, Kind: kind, Parent: parent, Name: name, Dead: dead})
		return nil
	})
}

// Link records that inode id got the additional name (parent, name).
func (j *Journal) Link(id, parent ID, name string) error {
	return j.update(func(tx *bolt.Tx) error {
		if err := checkDir(tx, parent); err != nil {
			return err
		}
		inodes := tx.Bucket(bucketInodes)
		v := inodes.Get(idKey(id))
		if v == nil {
			return fmt.Errorf("inode %v: %w", id, ErrNotFound)
		}
		n, err := decodeInode(v)
		if err != nil {
			return err
		}
		replaced, dead, err := unlinkName(tx, parent, name)
		if err != nil {
			return err
		}
		n.Nlink++
		if err := inodes.Put(idKey(id), n.encode()); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDentries).Put(dentryKey(parent, name), encodeDentry(id, n.Kind)); err != nil {
			return err
		}
		j.logOp(tx, Op{Type: OpLink, ID: id, Kind: n.Kind, Parent: parent, Name: name, Replaced: replaced, Dead: dead})
		return nil
	})
}

// Rename records rename(2) of (parent, name) to (newParent, newName). With
// exchange (RENAME_EXCHANGE) the two entries swap; otherwise whatever was
// at the new name loses that name.
//
// It does not wait for the commit (see async.go). It fails at once with
// ErrNotFound when the journal has no such source name.
func (j *Journal) Rename(parent ID, name string, newParent ID, newName string, exchange bool) error {
	id, kind, ok := j.Lookup(parent, name)
	if !ok {
		return fmt.Errorf("%q in %v: %w", name, parent, ErrNotFound)
	}
	var edits []ovlEdit
	oid, okind, dstOK := j.Lookup(newParent, newName)
	switch {
	case parent == newParent && name == newName, !exchange && dstOK && oid == id:
		// nothing changes
	case exchange:
		if !dstOK {
			return fmt.Errorf("%q in %v: %w", newName, newParent, ErrNotFound)
		}
		edits = []ovlEdit{{parent, name, ovlEntry{id: oid, kind: okind}}, {newParent, newName, ovlEntry{id: id, kind: kind}}}
	default:
		edits = []ovlEdit{{parent, name, ovlEntry{gone: true}}, {newParent, newName, ovlEntry{id: id, kind: kind}}}
	}
	return j.queue(fmt.Sprintf("rename %q in %v to %q in %v", name, parent, newName, newParent), edits, func(tx *bolt.Tx) error {
		if err := checkDir(tx, newParent); err != nil {
			return err
		}
		dents := tx.Bucket(bucketDentries)
		src := dents.Get(dentryKey(parent, name))
		if src == nil {
			return fmt.Errorf("%q in %v: %w", name, parent, ErrNotFound)
		}
		id, kind, err := decodeDentry(src)
		if err != nil {
			return err
		}
		op := Op{Type: OpRename, ID: id, Kind: kind, Parent: parent, Name: name, NewParent: newParent, NewName: newName, Exchange: exchange}
		if parent == newParent && name == newName {
			return nil
		}
		if exchange {
			dst := dents.Get(dentryKey(newParent, newName))
			if dst == nil {
				return fmt.Errorf("%q in %v: %w", newName, newParent, ErrNotFound)
			}
			other, okind, err := decodeDentry(dst)
			if err != nil {
				return err
			}
			op.Replaced, op.ReplacedKind = other, okind
			dents.Put(dentryKey(parent, name), encodeDentry(other, okind))
			dents.Put(dentryKey(newParent, newName), encodeDentry(id, kind))
			renamePrimary(tx, other, newParent, newName, parent, name)
		} else {
			if dst := dents.Get(dentryKey(newParent, newName)); dst != nil {
				if other, _, _ := decodeDentry(dst); other == id {
					return nil // two names of one file: rename(2) does nothing
				}
			}
			if op.Replaced, op.Dead, err = unlinkName(tx, newParent, newName); err != nil {
				return err
			}
			dents.Delete(dentryKey(parent, name))
			dents.Put(dentryKey(newParent, newName), encodeDentry(id, kind))
		}
		renamePrimary(tx, id, parent, name, newParent, newName)
		j.logOp(tx, op)
		return nil
	})
}

// renamePrimary moves the name the journal keeps for id from (p, n) to
// (np, nn), if (p, n) was that name.
func renamePrimary(tx *bolt.Tx, id, p ID, n string, np ID, nn string) {
	inodes := tx.Bucket(bucketInodes)
	v := inodes.Get(idKey(id))
	if v == nil {
		return
	}
	ino, err := decodeInode(v)
	if err != nil || ino.Parent != p || ino.Name != n {
		return
	}
	ino.Parent, ino.Name = np, nn
	inodes.Put(idKey(id), ino.encode())
}

// Kind returns the kind of inode id.
func (j *Journal) Kind(id ID) (Kind, error) {
	var k Kind
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInodes).Get(idKey(id))
		if v == nil {
			return fmt.Errorf("inode %v: %w", id, ErrNotFound)
		}
		n, err := decodeInode(v)
		k = n.Kind
		return err
	})
	return k, err
}

// Target returns the target symlink id was created with, if the journal
// has it (symlinks journaled before it kept targets do not).
func (j *Journal) Target(id ID) (string, bool) {
	var target string
	var ok bool
	j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTargets)
		if b == nil {
			return nil // an older journal opened read-only
		}
		v := b.Get(idKey(id))
		target, ok = string(v), v != nil
		return nil
	})
	return target, ok
}

// CreateOpen is Create of a regular file that is being opened for write
// (open(2) with O_CREAT): the inode and its open-for-write mark go into
// one commit, which it does not wait for (see async.go). ReleaseWrite ends
// the mark.
func (j *Journal) CreateOpen(parent ID, name string) (ID, error) {
	return j.createAsync(parent, name, KindFile, "", true)
}

// RemoveIf is Remove of (parent, name) only if it still names inode id:
// a reconciler that listed the journal a moment ago must not remove a
// name the mount has since given to another inode.
func (j *Journal) RemoveIf(parent ID, name string, id ID) error {
	return j.update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDentries).Get(dentryKey(parent, name))
		if v == nil {
			return nil
		}
		cur, kind, err := decodeDentry(v)
		if err != nil || cur != id {
			return err
		}
		_, dead, err := unlinkName(tx, parent, name)
		if err != nil {
			return err
		}
		t := OpUnlink
		if kind == KindDir {
			t = OpRmdir
		}
		j.logOp(tx, Op{Type: t, ID: id, Kind: kind, Parent: parent, Name: name, Dead: dead})
		return nil
	})
}

// AdoptIfAbsent is Adopt of (parent, name) only if the name is still
// unknown; otherwise it returns the inode the name has, and false.
func (j *Journal) AdoptIfAbsent(parent ID, name string, kind Kind, target string, size int64) (ID, bool, error) {
	var id ID
	adopted := false
	err := j.update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketDentries).Get(dentryKey(parent, name)); v != nil {
			var err error
			id, _, err = decodeDentry(v)
			return err
		}
		var err error
		id, err = j.createTx(tx, j.allocID(), parent, name, kind, target, size)
		adopted = err == nil
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return id, adopted, nil
}
