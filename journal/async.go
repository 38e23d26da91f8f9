package journal

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// The mount's namespace operations (create, mkdir, symlink, unlink, rmdir,
// rename) do not wait for their commit. A bbolt commit costs two
// fdatasyncs, and a writer that creates or deletes files one after the
// other (cp -a, tar -x, rm -rf, SQLite's -journal) would otherwise wait for
// one or two commits per file: the ops are queued instead, in order, and
// ride the next group commit with the writes, which close(2), fsync(2) or
// the commit interval makes durable. Until then:
//
//   - Lookup answers from an overlay of the names the queued ops changed,
//     so the mount reads its own changes; an ID for a new inode is handed
//     out in memory (allocID), next_id records the high-water mark.
//   - A flush barrier is taken after a Sync (the daemon's POST /flush), so
//     that every op queued before it has its generation.
//   - A crash loses the queued ops, never what they describe: the backing
//     directory has every change, and the start-up scan (reconcile.Scan)
//     adopts the names the journal lacks and drops those it has in excess.
//     This is why a file created by open(2) is not durably marked open for
//     write before open returns, unlike a file that existed (OpenForWrite):
//     a file the journal does not know is shipped whole after a crash.
//   - A commit that fails (a full state disk) keeps the queued ops, in
//     order, for the next attempt; while it fails, writes and creates are
//     refused (Err).
//   - An op whose transaction finds the journal not as the mount left it
//     (a reconciler changed it in between) is logged and dropped; the
//     watcher brings the journal in line with the backing dir.

// ovlEntry is what a queued op made of a name: an inode, or gone.
type ovlEntry struct {
	id   ID
	kind Kind
	gone bool
	seq  uint64 // the queued op that set it
}

type ovlEdit struct {
	parent ID
	name   string
	e      ovlEntry
}

// allocID hands out a new inode ID.
func (j *Journal) allocID() ID {
	j.mu.Lock()
	defer j.mu.Unlock()
	id := j.nextID
	j.nextID++
	return id
}

// queue appends fn to the next commit without waiting for it and applies
// edits to the overlay.
func (j *Journal) queue(what string, edits []ovlEdit, fn func(tx *bolt.Tx) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.queueLocked(what, edits, fn)
}

func (j *Journal) queueLocked(what string, edits []ovlEdit, fn func(tx *bolt.Tx) error) error {
	if j.closed {
		return errClosed
	}
	if j.commitErr != nil {
		return j.commitErr
	}
	j.ovlSeq++
	j.reqs = append(j.reqs, &request{fn: fn, async: true, seq: j.ovlSeq, what: what})
	for _, e := range edits {
		e.e.seq = j.ovlSeq
		j.ovl[string(dentryKey(e.parent, e.name))] = e.e
	}
	return nil
}

// createAsync is Create, or CreateOpen with open, queued.
func (j *Journal) createAsync(parent ID, name string, kind Kind, target string, open bool) (ID, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	id := j.nextID
	err := j.queueLocked("create "+name, []ovlEdit{{parent, name, ovlEntry{id: id, kind: kind}}}, func(tx *bolt.Tx) error {
		if _, err := j.createTx(tx, id, parent, name, kind, target, -1); err != nil {
			return err
		}
		if open {
			return tx.Bucket(bucketOpen).Put(idKey(id), nil)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	j.nextID++
	if open {
		j.openCount[id]++
	}
	return id, nil
}

// settleAsyncLocked ends the queued ops of a commit: if the commit failed
// (err) they go back to the front of the queue, in order; otherwise the
// overlay forgets what they set (the journal has it now), and an op that
// failed on its own is logged. Caller holds j.mu.
func (j *Journal) settleAsyncLocked(reqs []*request, err error) {
	var async []*request
	var last uint64
	for _, r := range reqs {
		if !r.async {
			continue
		}
		async = append(async, r)
		last = max(last, r.seq)
		if err == nil && r.err != nil && !errors.Is(r.err, ErrNotFound) {
			j.logf("journal: %s: %v (the watcher of the backing dir brings the journal in line)", r.what, r.err)
		}
	}
	if len(async) == 0 {
		return
	}
	if err != nil {
		for _, r := range async {
			r.err = nil
		}
		j.reqs = append(async, j.reqs...)
		return
	}
	for k, e := range j.ovl {
		if e.seq <= last {
			delete(j.ovl, k)
		}
	}
}
