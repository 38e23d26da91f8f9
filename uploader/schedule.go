package uploader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/journal"
)

// Run ships until ctx ends. It replays namespace operations in order and
// commits dirty inodes on a pool of workers, picking which by the settle
// policy: a file closed for writing ships at once; a file still open
// waits until it went UploadDelay without a write (rewrites coalesce) but
// never longer than MaxAge; a flush makes everything before its barrier
// ship now.
func (u *Uploader) Run(ctx context.Context) error {
	// Buffered: a worker that finishes finds its next inode waiting
	// instead of waiting for the loop to notice it is idle.
	work := make(chan journal.ID, u.cfg.Workers)
	for i := 0; i < u.cfg.Workers; i++ {
		go u.worker(ctx, work)
	}
	rootDone := false
	tick := time.NewTicker(rescanEvery)
	defer tick.Stop()
	opsRetry := time.Time{}
	for {
		if !rootDone {
			rootDone = u.ensureRootInode(ctx) == nil
		}
		if time.Now().After(opsRetry) {
			if _, err := u.replayOps(ctx); err != nil && ctx.Err() == nil {
				u.noteError(0, "", fmt.Errorf("namespace: %w", err))
				opsRetry = time.Now().Add(2 * time.Second)
			} else if err == nil {
				u.mu.Lock()
				u.forgetErrorsLocked(0)
				u.mu.Unlock()
			}
		}
		u.dispatch(ctx, work)
		if !u.wait(ctx, work, tick.C) {
			return nil
		}
	}
}

// wait returns when there may be new work to look for: after a wake-up
// and the coalescing pause, or at the tick; false once ctx ends. Workers
// that finish meanwhile get queued work.
//
// Every journal commit wakes the uploader. While a job creates files by
// the thousand, the short pause lets one round replay the namespace ops of
// many commits (one journal commit for their acknowledgement instead of
// one each), and leaves the journal's committer to the writers that wait
// for it.
func (u *Uploader) wait(ctx context.Context, work chan<- journal.ID, tick <-chan time.Time) bool {
	var pause <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return false
		case <-u.idle:
			u.feed(ctx, work)
		case <-u.wake:
			if pause == nil {
				t := time.NewTimer(coalesce)
				defer t.Stop()
				pause = t.C
			}
		case <-pause:
			return true
		case <-tick:
			if pause == nil {
				return true
			}
		}
	}
}

// coalesce is the pause after a wake-up before the uploader looks for work.
const coalesce = 20 * time.Millisecond

// rescanEvery bounds how often dispatch scans the journal's dirty records
// while it still has queued work: a scan reads every dirty record, and
// with ten thousand small files waiting, one scan per shipped file (every
// acknowledgement is a commit, and every commit a wake-up) made shipping
// quadratic.
const rescanEvery = 100 * time.Millisecond

func (u *Uploader) worker(ctx context.Context, work <-chan journal.ID) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-work:
			u.commit(ctx, id)
			u.mu.Lock()
			delete(u.busy, id)
			u.mu.Unlock()
			select {
			case u.idle <- struct{}{}:
			default:
			}
		}
	}
}

// dispatch scans the journal for eligible dirty inodes, when the queue of
// the last scan is empty or old or a flush came since, and hands queued
// inodes to idle workers.
func (u *Uploader) dispatch(ctx context.Context, work chan<- journal.ID) {
	u.mu.Lock()
	urgent := u.urgent
	u.mu.Unlock()
	if len(u.queue) == 0 || urgent != u.scannedUrgent || time.Since(u.scanned) >= rescanEvery {
		u.scan()
		u.scannedUrgent = urgent
	}
	u.feed(ctx, work)
}

// scan replaces the queue with the eligible dirty inodes: closed files
// first, then oldest changes first.
func (u *Uploader) scan() {
	dirty, err := u.j.Dirty()
	if err != nil {
		u.noteError(0, "", err)
		return
	}
	now := time.Now()
	u.scanned = now
	type cand struct {
		id     journal.ID
		gen    uint64
		closed bool
	}
	var cands []cand
	u.mu.Lock()
	for id := range u.firstSeen {
		if _, ok := dirty[id]; !ok && !u.busy[id] {
			delete(u.firstSeen, id)
		}
	}
	for id, gen := range dirty {
		if u.busy[id] {
			continue
		}
		if e := u.inodeErrs[id]; e != nil && now.Before(e.until) && gen > u.urgent {
			continue
		}
		first, ok := u.firstSeen[id]
		if !ok {
			first = now
			u.firstSeen[id] = now
		}
		open, last := u.j.Activity(id)
		urgent := gen <= u.urgent
		if e := u.inodeErrs[id]; e != nil && now.Before(e.until) {
			urgent = false // a flush does not skip the backoff of a failing file
		}
		if urgent || !open || now.Sub(last) >= u.cfg.UploadDelay || now.Sub(first) >= u.cfg.MaxAge {
			cands = append(cands, cand{id, gen, !open})
		}
	}
	u.mu.Unlock()
	sort.Slice(cands, func(a, b int) bool {
		if cands[a].closed != cands[b].closed {
			return cands[a].closed
		}
		return cands[a].gen < cands[b].gen
	})
	u.queue = u.queue[:0]
	for _, c := range cands {
		u.queue = append(u.queue, c.id)
	}
}

// feed hands queued inodes to the workers, in order, until their queue is
// full.
// An inode queued but shipped since costs its worker a claim that finds
// nothing.
func (u *Uploader) feed(ctx context.Context, work chan<- journal.ID) {
	for len(u.queue) > 0 {
		id := u.queue[0]
		u.mu.Lock()
		if u.busy[id] {
			u.mu.Unlock()
			u.queue = u.queue[1:]
			continue
		}
		u.busy[id] = true
		u.mu.Unlock()
		select {
		case work <- id:
			u.queue = u.queue[1:]
			continue
		case <-ctx.Done():
		default:
		}
		u.mu.Lock()
		delete(u.busy, id)
		u.mu.Unlock()
		return // the workers' queue is full: the next one to finish wakes us
	}
}

// EnsureRoot writes the root directory's manifest if the remote has none,
// as Run does when it starts: the mount's start-up audit calls it first,
// so that a brand-new prefix is not reported as having lost its root.
func (u *Uploader) EnsureRoot(ctx context.Context) error { return u.ensureRootInode(ctx) }

// ensureRootInode writes the root directory's manifest if the remote has
// none: a browser needs it to start.
func (u *Uploader) ensureRootInode(ctx context.Context) error {
	m, err := u.cache.root(ctx, format.RootID)
	if err != nil || m != nil {
		return err
	}
	unlock := u.locks.lock(journal.RootID)
	defer unlock()
	if _, _, err := u.ship(ctx, journal.RootID, nil); err != nil {
		u.noteError(journal.RootID, "/", err)
		return err
	}
	return nil
}

func (u *Uploader) noteProgress() {
	u.mu.Lock()
	defer u.mu.Unlock()
	close(u.progress)
	u.progress = make(chan struct{})
}

// ErrRemoteRejects is wrapped by Flush's error when the remote refuses
// writes with an error no retry can fix.
var ErrRemoteRejects = errors.New("the remote rejects writes")

// Flush makes every change with generation <= barrier ship now and waits
// until the remote holds them all. It fails at once, instead of waiting,
// when the remote rejects writes permanently (access denied, no bucket).
func (u *Uploader) Flush(ctx context.Context, barrier uint64) error {
	u.mu.Lock()
	if barrier > u.urgent {
		u.urgent = barrier
	}
	u.mu.Unlock()
	u.Wake()
	for {
		ok, err := u.j.Settled(barrier)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		u.mu.Lock()
		perm, progress := u.permErr, u.progress
		u.mu.Unlock()
		if perm != nil {
			return fmt.Errorf("%w: %v", ErrRemoteRejects, perm)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		case <-time.After(time.Second): // journal commits change Settled too
		}
	}
}
