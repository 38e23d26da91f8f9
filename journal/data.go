package journal

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecordWrite records that n bytes at off of inode id were written. It only
// touches memory; the range becomes durable with the next commit, at the
// latest after the commit interval, or when Sync or SyncFile returns.
// Callers check Err first and refuse writes while the journal is failing.
func (j *Journal) RecordWrite(id ID, off, n int64) {
	j.mu.Lock()
	j.recordWriteLocked(id, off, n)
	j.mu.Unlock()
}

// recordWriteLocked is RecordWrite with j.mu held.
func (j *Journal) recordWriteLocked(id ID, off, n int64) {
	if n <= 0 {
		return
	}
	p := j.pend[id]
	if p == nil {
		p = &pendingWrites{gen: j.gen + 1}
		j.pend[id] = p
	}
	j.gen++
	p.ranges = p.ranges.Add(off, n)
	j.noteChangeLocked(id, off, n)
	j.lastWrite[id] = time.Now()
}

// Activity says whether id is open for write in this process and when a
// change to it was last recorded (zero if none in the last minutes): the
// uploader waits for files still being written to settle, and a watcher
// of the backing dir takes a change older than that for someone else's.
func (j *Journal) Activity(id ID) (open bool, last time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.openCount[id] > 0, j.lastWrite[id]
}

// activityKept is how long the time of a change is remembered after it.
const activityKept = 10 * time.Minute

// pruneActivityLocked forgets change times older than activityKept.
// Caller holds j.mu.
func (j *Journal) pruneActivityLocked() {
	cut := time.Now().Add(-activityKept)
	for id, t := range j.lastWrite {
		if t.Before(cut) && j.openCount[id] == 0 {
			delete(j.lastWrite, id)
		}
	}
}

// OpenForWrite marks id as open for writing and returns once the mark is
// durable. Until the matching ReleaseWrite, a crash leaves the mark behind,
// telling recovery to compare the whole file with the remote: writes still
// in memory at the crash were lost from the journal, not from the file.
func (j *Journal) OpenForWrite(id ID) error {
	j.mu.Lock()
	j.openCount[id]++
	first := j.openCount[id] == 1
	delete(j.unmark, id)
	j.mu.Unlock()
	if !first {
		return nil
	}
	err := j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).Put(idKey(id), nil)
	})
	if err != nil {
		j.ReleaseWrite(id)
	}
	return err
}

// ReleaseWrite ends one OpenForWrite. The mark is cleared in a later
// commit, after the file's pending writes, never before them.
func (j *Journal) ReleaseWrite(id ID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.openCount[id] > 1 {
		j.openCount[id]--
		return
	}
	delete(j.openCount, id)
	j.unmark[id] = true
}

// ReleaseAll ends every OpenForWrite still held. The mount calls it once
// the kernel connection is gone: no write can arrive any more, so the
// journal is complete for every file. (The kernel sends RELEASE after
// close(2) has returned, and an unmount right then drops it: without this
// the next start would take such a file for one a crash left open and
// compare all of it.)
func (j *Journal) ReleaseAll() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for id := range j.openCount {
		delete(j.openCount, id)
		j.unmark[id] = true
	}
}

// Truncate records that id was truncated from oldSize to size: bytes past
// size are no longer dirty, and bytes a growing truncate added (zeros) are.
func (j *Journal) Truncate(id ID, oldSize, size int64) error {
	trim := func() {
		if p := j.pend[id]; p != nil {
			p.ranges = p.ranges.Truncate(size)
		}
		j.noteChangeLocked(id, min(oldSize, size), Whole)
		j.lastWrite[id] = time.Now()
	}
	return j.updateWith(trim, func(tx *bolt.Tx) error {
		gen := j.logOp(tx, Op{Type: OpTruncate, ID: id, Size: size})
		return j.editDirty(tx, id, gen, func(p *pending) {
			p.Ranges = p.Ranges.Truncate(size)
			if size > oldSize {
				p.Ranges = p.Ranges.Add(oldSize, size-oldSize)
			}
			if size < oldSize && (!p.Shrunk || size < p.MinSize) {
				p.Shrunk, p.MinSize = true, size
			}
		})
	})
}

// Setattr records a change of mode, owner or times of id.
func (j *Journal) Setattr(id ID) error { return j.attrOp(id) }

// Xattr records a change of the extended attributes of id.
func (j *Journal) Xattr(id ID) error { return j.attrOp(id) }

// attrOp records an attribute change in memory, as RecordWrite records a
// write: it becomes durable with the next commit, or when fsync or close
// of the file (SyncFile) or a Sync asks for it, and costs no commit of
// its own (cp -a makes four per file: chown, xattrs, times, mode). A crash
// before that commit loses only the flag, not the change: the start-up
// scan finds the file's ctime newer than what was shipped and compares
// its attributes (uploader.Reconcile). Like a write, it is refused while
// the journal cannot commit.
func (j *Journal) attrOp(id ID) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.commitErr != nil {
		return j.commitErr
	}
	p := j.pend[id]
	if p == nil {
		p = &pendingWrites{gen: j.gen + 1}
		j.pend[id] = p
	}
	j.gen++
	p.attr = true
	j.lastWrite[id] = time.Now()
	return nil
}

// editDirty marks id's attributes dirty with generation gen and applies
// edit to its dirty record.
func (j *Journal) editDirty(tx *bolt.Tx, id ID, gen uint64, edit func(*pending)) error {
	if tx.Bucket(bucketInodes).Get(idKey(id)) == nil {
		return nil // unlinked: nothing to ship
	}
	dirty := tx.Bucket(bucketDirty)
	p := pending{Gen: gen}
	if v := dirty.Get(idKey(id)); v != nil {
		var err error
		if p, err = decodePending(v); err != nil {
			return fmt.Errorf("dirty record of %v: %w", id, err)
		}
	}
	p.AttrDirty = true
	if edit != nil {
		edit(&p)
	}
	return dirty.Put(idKey(id), p.encode())
}
