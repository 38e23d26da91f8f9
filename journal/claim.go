package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// ErrClaimed is returned by Claim when an earlier claim of the same inode
// has not been acknowledged or returned yet.
var ErrClaimed = errors.New("inode already claimed")

// Claim moves id's dirty ranges and attribute flag to in-flight, in one
// transaction, and returns them. ok is false when id has nothing dirty.
// Writes recorded after the claim make id dirty again; Ack removes only
// what the claim took.
func (j *Journal) Claim(id ID) (c Claim, ok bool, err error) {
	defer func() {
		if err != nil || !ok {
			j.untrack(id)
		}
	}()
	err = j.updateWith(func() { j.trackLocked(id) }, func(tx *bolt.Tx) error {
		dirty, inflight := tx.Bucket(bucketDirty), tx.Bucket(bucketInFlight)
		if inflight.Get(idKey(id)) != nil {
			return fmt.Errorf("%v: %w", id, ErrClaimed)
		}
		v := dirty.Get(idKey(id))
		if v == nil {
			return nil
		}
		p, err := decodePending(v)
		if err != nil {
			return fmt.Errorf("dirty record of %v: %w", id, err)
		}
		j.mu.Lock()
		j.nextToken++
		p.Token = j.nextToken
		j.mu.Unlock()
		if err := inflight.Put(idKey(id), p.encode()); err != nil {
			return err
		}
		if err := dirty.Delete(idKey(id)); err != nil {
			return err
		}
		c, ok = Claim{ID: id, Ranges: p.Ranges, AttrDirty: p.AttrDirty, Shrunk: p.Shrunk, MinSize: p.MinSize, Gen: p.Gen, token: p.Token}, true
		return nil
	})
	if err != nil {
		return Claim{}, false, err
	}
	return c, ok, nil
}

// Ack records that the claim is committed in the remote: its in-flight
// record is deleted. Ranges written since the claim stay dirty.
func (j *Journal) Ack(c Claim) error {
	defer j.untrack(c.ID)
	return j.update(func(tx *bolt.Tx) error { return j.ackTx(tx, c) })
}

func (j *Journal) ackTx(tx *bolt.Tx, c Claim) error {
	inflight := tx.Bucket(bucketInFlight)
	v := inflight.Get(idKey(c.ID))
	if v == nil {
		return nil // unlinked meanwhile
	}
	if p, err := decodePending(v); err != nil || p.Token != c.token {
		return fmt.Errorf("ack of %v: claim %d is not the one in flight", c.ID, c.token)
	}
	return inflight.Delete(idKey(c.ID))
}

// Unclaim returns a claim that could not be shipped to the dirty set, to be
// claimed again later.
func (j *Journal) Unclaim(c Claim) error {
	defer j.untrack(c.ID)
	return j.update(func(tx *bolt.Tx) error {
		inflight := tx.Bucket(bucketInFlight)
		v := inflight.Get(idKey(c.ID))
		if v == nil {
			return nil
		}
		p, err := decodePending(v)
		if err != nil || p.Token != c.token {
			return fmt.Errorf("unclaim of %v: claim %d is not the one in flight", c.ID, c.token)
		}
		if tx.Bucket(bucketInodes).Get(idKey(c.ID)) != nil {
			if err := mergeDirty(tx.Bucket(bucketDirty), c.ID, p); err != nil {
				return err
			}
		}
		return inflight.Delete(idKey(c.ID))
	})
}

// Ops returns up to max logged operations with seq > after, in order.
func (j *Journal) Ops(after uint64, max int) ([]Op, error) {
	var ops []Op
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOps).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(ops) < max; k, v = c.Next() {
			op, err := decodeOp(uint64(keyID(k)), v)
			if err != nil {
				return fmt.Errorf("op %d: %w", keyID(k), err)
			}
			ops = append(ops, op)
		}
		return nil
	})
	return ops, err
}

// AckOps deletes the logged operations with seq <= upTo: the remote
// reflects them.
func (j *Journal) AckOps(upTo uint64) error {
	return j.update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOps).Cursor()
		for k, _ := c.First(); k != nil && uint64(keyID(k)) <= upTo; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// PendingOps returns how many namespace operations (creates, renames,
// unlinks...) are logged and not yet acknowledged by the remote.
func (j *Journal) PendingOps() (int, error) {
	n := 0
	err := j.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOps).Stats().KeyN
		return nil
	})
	return n, err
}

// Dirty returns the IDs of inodes with dirty work that is not claimed, in
// no particular order, with their oldest generation.
func (j *Journal) Dirty() (map[ID]uint64, error) {
	out := map[ID]uint64{}
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDirty).ForEach(func(k, v []byte) error {
			// The generation leads the record: the uploader scans every
			// dirty record often, and decoding range sets it does not
			// need was most of a scan's cost.
			gen, n := binary.Uvarint(v)
			if n <= 0 {
				return fmt.Errorf("dirty record of %v: bad generation", keyID(k))
			}
			out[keyID(k)] = gen
			return nil
		})
	})
	return out, err
}

// State returns every inode with pending work (dirty, in flight, or
// waiting in memory) and every inode marked open for write, with paths.
func (j *Journal) State() ([]FileState, error) {
	byID := map[ID]*FileState{}
	get := func(id ID) *FileState {
		if f := byID[id]; f != nil {
			return f
		}
		f := &FileState{ID: id}
		byID[id] = f
		return f
	}
	j.mu.Lock()
	for id, p := range j.pend {
		f := get(id)
		f.Dirty = f.Dirty.Union(p.ranges)
		f.AttrDirty = p.attr
		f.Gen = p.gen
	}
	// Names the queued namespace ops gave (a file created since the last
	// commit has no path in the database yet).
	queued := map[ID]ovlEdit{}
	for k, e := range j.ovl {
		if !e.gone && len(k) > 8 {
			queued[e.id] = ovlEdit{parent: keyID([]byte(k[:8])), name: k[8:]}
		}
	}
	j.mu.Unlock()
	err := j.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDirty, bucketInFlight} {
			err := tx.Bucket(b).ForEach(func(k, v []byte) error {
				p, err := decodePending(v)
				if err != nil {
					return err
				}
				f := get(keyID(k))
				if b[0] == 'd' {
					f.Dirty = f.Dirty.Union(p.Ranges)
				} else {
					f.InFlight, f.Claimed = p.Ranges, true
				}
				f.AttrDirty = f.AttrDirty || p.AttrDirty
				if f.Gen == 0 || p.Gen < f.Gen {
					f.Gen = p.Gen
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			get(keyID(k)).OpenWrite = true
			return nil
		})
		for id, f := range byID {
			f.Path = queuedPath(tx, queued, id)
		}
		return nil
	})
	out := make([]FileState, 0, len(byID))
	for _, f := range byID {
		out = append(out, *f)
	}
	return out, err
}

// OpenMarks returns the inodes marked open for write: after a crash, the
// files whose journaled ranges may be incomplete.
func (j *Journal) OpenMarks() ([]ID, error) {
	var ids []ID
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			ids = append(ids, keyID(k))
			return nil
		})
	})
	return ids, err
}

// ClearOpenMark removes the open-for-write mark of id left by a crashed
// process, once recovery has compared the file. Marks of files open in this
// process are kept.
func (j *Journal) ClearOpenMark(id ID) error {
	return j.update(func(tx *bolt.Tx) error {
		j.mu.Lock()
		open := j.openCount[id] > 0
		j.mu.Unlock()
		if open {
			return nil
		}
		return tx.Bucket(bucketOpen).Delete(idKey(id))
	})
}

// Settled reports whether every change with generation <= barrier is
// acknowledged: no op, dirty range, in-flight claim or in-memory write that
// old remains. flush --wait polls it.
func (j *Journal) Settled(barrier uint64) (bool, error) {
	j.mu.Lock()
	for _, p := range j.pend {
		if p.gen <= barrier {
			j.mu.Unlock()
			return false, nil
		}
	}
	j.mu.Unlock()
	settled := true
	err := j.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketOps).Cursor().First(); k != nil && uint64(keyID(k)) <= barrier {
			settled = false
			return nil
		}
		for _, b := range [][]byte{bucketDirty, bucketInFlight} {
			err := tx.Bucket(b).ForEach(func(k, v []byte) error {
				p, err := decodePending(v)
				if err != nil {
					return err
				}
				if p.Gen <= barrier {
					settled = false
					return errStop
				}
				return nil
			})
			if err != nil && err != errStop {
				return err
			}
		}
		return nil
	})
	return settled, err
}

// queuedPath is id's path, from the names of queued ops where they have
// one (they are newer than the database), else from the database; "" if
// neither knows it.
func queuedPath(tx *bolt.Tx, queued map[ID]ovlEdit, id ID) string {
	var parts []string
	for depth := 0; id != RootID && depth <= 4096; depth++ {
		e, ok := queued[id]
		if !ok {
			p, err := pathOf(tx, id)
			if err != nil {
				return ""
			}
			parts = append(parts, p)
			break
		}
		parts = append(parts, e.name)
		id = e.parent
	}
	slices.Reverse(parts)
	return path.Join(parts...)
}
