package journal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the journal's invariants and returns the first violation:
// bbolt's own page consistency; every dentry names a live inode of the
// kind it records; every inode's link count equals the dentries naming it
// and the name it keeps for Path is one of them; every pending record
// decodes to a valid range set and belongs to a live inode; every op
// decodes. Tests run it after every scenario, and after a crash.
func (j *Journal) Check() error {
	// A read transaction would race bbolt's shared freelist with
	// concurrent commits and report false "reachable freed" pages; a write
	// transaction, rolled back, excludes them.
	tx, err := j.db.Begin(!j.db.IsReadOnly())
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return check(tx)
}

func check(tx *bolt.Tx) error {
	{
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err // keep draining: the checker blocks otherwise
			}
		}
		if first != nil {
			return first
		}
		inodes := map[ID]inode{}
		err := tx.Bucket(bucketInodes).ForEach(func(k, v []byte) error {
			n, err := decodeInode(v)
			if err != nil {
				return fmt.Errorf("inode %x: %w", k, err)
			}
			inodes[keyID(k)] = n
			return nil
		})
		if err != nil {
			return err
		}
		if n, ok := inodes[RootID]; !ok || n.Kind != KindDir {
			return fmt.Errorf("root inode missing or not a directory")
		}
		links := map[ID]uint32{}
		names := map[ID]map[string]bool{}
		err = tx.Bucket(bucketDentries).ForEach(func(k, v []byte) error {
			if len(k) < 9 {
				return fmt.Errorf("dentry key %x too short", k)
			}
			parent, name := keyID(k[:8]), string(k[8:])
			child, kind, err := decodeDentry(v)
			if err != nil {
				return fmt.Errorf("dentry %v/%q: %w", parent, name, err)
			}
			p, ok := inodes[parent]
			if !ok || p.Kind != KindDir {
				return fmt.Errorf("dentry %v/%q: parent is not a live directory", parent, name)
			}
			c, ok := inodes[child]
			if !ok {
				return fmt.Errorf("dentry %v/%q names dead inode %v", parent, name, child)
			}
			if c.Kind != kind {
				return fmt.Errorf("dentry %v/%q says %v, inode %v is a %v", parent, name, kind, child, c.Kind)
			}
			links[child]++
			if names[child] == nil {
				names[child] = map[string]bool{}
			}
			names[child][string(k)] = true
			return nil
		})
		if err != nil {
			return err
		}
		for id, n := range inodes {
			if id == RootID {
				continue
			}
			if links[id] != n.Nlink {
				return fmt.Errorf("inode %v: nlink %d but %d dentries", id, n.Nlink, links[id])
			}
			if !names[id][string(dentryKey(n.Parent, n.Name))] {
				return fmt.Errorf("inode %v: kept name %v/%q is not one of its dentries", id, n.Parent, n.Name)
			}
		}
		for _, b := range [][]byte{bucketDirty, bucketInFlight} {
			err := tx.Bucket(b).ForEach(func(k, v []byte) error {
				p, err := decodePending(v)
				if err != nil {
					return fmt.Errorf("%s record %x: %w", b, k, err)
				}
				if err := p.Ranges.Check(); err != nil {
					return fmt.Errorf("%s record %x: %w", b, k, err)
				}
				if _, ok := inodes[keyID(k)]; !ok {
					return fmt.Errorf("%s record for dead inode %x", b, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
			if _, err := decodeOp(uint64(keyID(k)), v); err != nil {
				return fmt.Errorf("op %x: %w", k, err)
			}
			return nil
		})
	}
}
