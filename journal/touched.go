package journal

import "github.com/syncfs/syncfs/internal/ranges"

// What changed under a claim. The uploader of a format-2 prefix ships the
// dirty pages of a 64 KiB block but hashes the whole block, as read now.
// The pages it does not ship must then hold what the remote holds; a
// write that lands in one of them between the claim and the read would
// make the block's hash cover bytes the remote does not have (a reader
// sees a hash mismatch, and after a crash the recovery comparison finds
// the block clean). So the uploader asks, after reading, which bytes of
// the block were written since the claim or are being written now
// (Touched), and ships those pages too. For that answer to be complete,
// writers announce a write before it reaches the backing file
// (BeginWrite) and end it when it is recorded (EndWrite).

// writing is an inode's writes under way: how many, and the bytes they
// cover (a superset once several overlap; cleared when none is left).
type writing struct {
	n int
	r ranges.Set
}

// Whole is a length that covers every byte from an offset on: what a
// writer that cannot say which bytes it changes (a blind writer, a
// truncate) announces.
const Whole = 1 << 62

// BeginWrite announces that n bytes at off of id are about to be written
// to the backing file. Every BeginWrite needs its EndWrite.
func (j *Journal) BeginWrite(id ID, off, n int64) {
	if n <= 0 {
		n = 1 // still counted, so that EndWrite balances
	}
	j.mu.Lock()
	w := j.writing[id]
	if w == nil {
		w = &writing{}
		j.writing[id] = w
	}
	w.n++
	w.r = w.r.Add(off, min(n, Whole-off))
	j.mu.Unlock()
}

// EndWrite records the n bytes at off that the write announced by
// BeginWrite wrote (none if n <= 0) and ends it.
func (j *Journal) EndWrite(id ID, off, n int64) {
	j.RecordWrite(id, off, n)
	j.mu.Lock()
	if w := j.writing[id]; w != nil {
		if w.n--; w.n <= 0 {
			delete(j.writing, id)
		}
	}
	j.mu.Unlock()
}

// Touched returns the bytes of [off, off+n) of id that were written since
// id was claimed or are being written now. Every write whose bytes a read
// of the backing file made after the claim can see is in it.
func (j *Journal) Touched(id ID, off, n int64) ranges.Set {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.since[id].Intersect(off, n)
	if w := j.writing[id]; w != nil {
		t = t.Union(w.r.Intersect(off, n))
	}
	return t
}

// trackLocked starts tracking id's changes for a claim about to be
// queued: the writes in memory now commit after the claim takes the
// dirty record, so they are not the claim's. Caller holds j.mu.
func (j *Journal) trackLocked(id ID) {
	var s ranges.Set
	if p := j.pend[id]; p != nil {
		s = p.ranges.Clone()
	}
	if s == nil {
		s = ranges.Set{}
	}
	j.since[id] = s
}

// untrack ends the tracking of a claim that is settled or never was.
func (j *Journal) untrack(id ID) {
	j.mu.Lock()
	delete(j.since, id)
	j.mu.Unlock()
}

// noteChangeLocked adds bytes changed after a claim to its tracking.
// Caller holds j.mu.
func (j *Journal) noteChangeLocked(id ID, off, n int64) {
	if s, ok := j.since[id]; ok {
		j.since[id] = s.Add(off, min(n, Whole-off))
	}
}
