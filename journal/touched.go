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

// writing is an inode's writes under way, as announced: a short list,
// since each is one request a FUSE worker is serving.
type writing []ranges.Range

// Whole is a length that covers every byte from an offset on: what a
// writer that cannot say which bytes it changes (a blind writer, a
// truncate) announces.
const Whole = 1 << 62

// BeginWrite announces that n bytes at off of id are about to be written
// to the backing file. Every BeginWrite needs its EndWrite, with the same
// off and n.
func (j *Journal) BeginWrite(id ID, off, n int64) {
	j.mu.Lock()
	j.writing[id] = append(j.writing[id], ranges.Range{Off: off, Len: max(1, min(n, Whole-off))})
	j.mu.Unlock()
}

// EndWrite ends the write of n bytes at off announced by BeginWrite and
// records the wrote bytes at off that it wrote (none if wrote <= 0).
func (j *Journal) EndWrite(id ID, off, n, wrote int64) {
	r := ranges.Range{Off: off, Len: max(1, min(n, Whole-off))}
	j.mu.Lock()
	w := j.writing[id]
	for i := range w {
		if w[i] == r {
			w[i] = w[len(w)-1]
			w = w[:len(w)-1]
			break
		}
	}
	if len(w) == 0 {
		delete(j.writing, id)
	} else {
		j.writing[id] = w
	}
	j.recordWriteLocked(id, off, wrote)
	j.mu.Unlock()
}

// Touched returns the bytes of [off, off+n) of id that were written since
// id was claimed or are being written now. Every write whose bytes a read
// of the backing file made after the claim can see is in it.
func (j *Journal) Touched(id ID, off, n int64) ranges.Set {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.since[id].Intersect(off, n)
	for _, r := range j.writing[id] {
		a, b := max(r.Off, off), min(r.End(), off+n)
		if a < b {
			t = t.Add(a, b-a)
		}
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
