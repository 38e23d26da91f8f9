package journal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The remote audit (uploader.Audit) compares what the journal says was
// shipped with what the remote holds, to notice a remote changed behind
// syncfs's back (objects deleted, a prefix restored from an old copy).
// These are the journal's two halves of it: the inventory to compare, and
// the re-journaling of whatever turned out missing.

// Name is one dentry of an inode.
type Name struct {
	Parent ID
	Name   string
}

// Record is an inode as the audit sees it.
type Record struct {
	ID      ID
	Kind    Kind
	Names   []Name // its dentries (none for the root)
	Version uint64 // of the manifest last committed; 0 if not recorded
	// Pending: the inode has work not yet acknowledged (dirty, in flight,
	// or a namespace op naming it), so the remote may lag behind on
	// purpose and the audit leaves it alone.
	Pending bool
}

// Inventory returns every live inode.
func (j *Journal) Inventory() ([]Record, error) {
	var out []Record
	err := j.db.View(func(tx *bolt.Tx) error {
		byID := map[ID]int{}
		err := tx.Bucket(bucketInodes).ForEach(func(k, v []byte) error {
			n, err := decodeInode(v)
			if err != nil {
				return fmt.Errorf("inode %x: %w", k, err)
			}
			id := keyID(k)
			r := Record{ID: id, Kind: n.Kind}
			if vb := tx.Bucket(bucketVersions); vb != nil {
				if v := vb.Get(k); len(v) == 8 {
					r.Version = uint64(keyID(v))
				}
			}
			r.Pending = tx.Bucket(bucketDirty).Get(k) != nil || tx.Bucket(bucketInFlight).Get(k) != nil
			byID[id] = len(out)
			out = append(out, r)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketDentries).ForEach(func(k, v []byte) error {
			child, _, err := decodeDentry(v)
			if err != nil || len(k) < 9 {
				return fmt.Errorf("dentry %x: %w", k, errCorruptRecord)
			}
			if i, ok := byID[child]; ok {
				out[i].Names = append(out[i].Names, Name{Parent: keyID(k[:8]), Name: string(k[8:])})
			}
			return nil
		})
		if err != nil {
			return err
		}
		// An op not yet replayed is remote work in progress for every
		// inode it names.
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
			op, err := decodeOp(uint64(keyID(k)), v)
			if err != nil {
				return err
			}
			for _, id := range []ID{op.ID, op.Parent, op.NewParent, op.Replaced} {
				if i, ok := byID[id]; ok {
					out[i].Pending = true
				}
			}
			return nil
		})
	})
	return out, err
}

// Lost is an inode the remote lost, for Reship.
type Lost struct {
	Record
	Size     int64 // bytes of the backing file now (files)
	Manifest bool  // its manifest (or a part it refers to) is missing or not the version shipped
	Dentries bool  // one of its dentries is missing
}

// Reship re-journals, in one transaction, what the remote lost: a lost
// manifest makes the whole inode dirty (size bytes and its attributes), so
// the next commit rewrites its manifest and every byte; lost dentries are
// logged again as creates, so the uploader puts them again. A name that
// changed since the inventory is left alone (the op that changed it ships
// it).
func (j *Journal) Reship(lost []Lost) error {
	return j.update(func(tx *bolt.Tx) error {
		inodes, dentries := tx.Bucket(bucketInodes), tx.Bucket(bucketDentries)
		for _, l := range lost {
			if inodes.Get(idKey(l.ID)) == nil {
				continue // gone meanwhile
			}
			if l.Dentries {
				for _, n := range l.Names {
					v := dentries.Get(dentryKey(n.Parent, n.Name))
					if child, kind, err := decodeDentry(v); v != nil && err == nil && child == l.ID {
						j.logOp(tx, Op{Type: OpCreate, ID: l.ID, Kind: kind, Parent: n.Parent, Name: n.Name})
					}
				}
			}
			if !l.Manifest {
				continue
			}
			j.mu.Lock()
			p := pending{Gen: j.nextGenLocked(), AttrDirty: true}
			j.mu.Unlock()
			if l.Kind == KindFile && l.Size > 0 {
				p.Ranges = p.Ranges.Add(0, l.Size)
			}
			// What was shipped is not there any more: nothing may be
			// compared against it.
			dropShipped(tx, l.ID)
			if err := mergeDirty(tx.Bucket(bucketDirty), l.ID, p); err != nil {
				return err
			}
		}
		return nil
	})
}
