package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/remote/lease"
	"github.com/syncfs/syncfs/remote/limit"
	"github.com/syncfs/syncfs/remote/retry"
)

// RemoteCode maps a remote error to the exit status of its class.
func RemoteCode(err error) int {
	switch {
	case errors.Is(err, backend.ErrBadURL):
		return exitcode.Usage
	case errors.Is(err, lease.ErrHeld):
		return exitcode.Busy
	case errors.Is(err, backend.ErrNoBucket), errors.Is(err, backend.ErrAccessDenied),
		errors.Is(err, backend.ErrUnreachable), errors.Is(err, backend.ErrTLSBundle),
		errors.Is(err, backend.ErrProbe):
		return exitcode.Remote
	}
	return exitcode.Remote
}

// holdLease makes this mount the one writer of the remote prefix and keeps
// the lease fresh; the returned function releases it.
func (d *daemon) holdLease(ctx context.Context, s remote.Store) (func(), error) {
	l, err := lease.Acquire(ctx, s, lease.Holder{Mountpoint: d.c.Mountpoint, StateDir: d.c.State}, d.c.Force)
	if err != nil {
		return nil, exitcode.Wrap(RemoteCode(err), err)
	}
	if prev, ok := l.TookOver(); ok {
		d.log.Printf("took over the remote lease of pid %d on %s (mount %s)", prev.PID, prev.Host, prev.Mountpoint)
	}
	stop := l.Keep(30*time.Second, func(err error) {
		if errors.Is(err, lease.ErrLost) {
			d.log.Printf("LEASE LOST: another mount took over %s; no more uploads from this one: %v", s, err)
			d.leaseLost(err)
			return
		}
		d.log.Printf("renewing the lease: %v", err)
	})
	return func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Release(ctx); err != nil {
			d.log.Printf("releasing the lease: %v", err)
		}
	}, nil
}

// uploadStore stacks the uploader's view of the store: retries with
// backoff outside a bound on concurrent requests (so backoff waits do not
// hold a slot).
func (d *daemon) uploadStore(s remote.Store) remote.Store {
	return retry.New(limit.New(s, 8), retry.Options{
		OnRetry: func(e retry.Event) {
			d.retries.Add(1)
			d.trouble.failed(e)
			d.log.Printf("retrying %s %s (attempt %d) in %v: %v", e.Op, e.Key, e.Attempt, e.Wait.Round(time.Millisecond), e.Err)
		},
		OnRecover: func(string, string, int) { d.trouble.recovered() },
	})
}

// RemoteTrouble is the remote failure requests are being retried for, as
// status and flush show it: without it a flush that cannot finish says
// only how much is pending, and the reason is in the log alone.
type RemoteTrouble struct {
	Since   time.Time `json:"since"`   // first failure since the remote last answered
	Time    time.Time `json:"time"`    // the latest failure
	Op      string    `json:"op"`      // put, get, stat, list, delete
	Key     string    `json:"key"`     // of the latest failure
	Attempt int       `json:"attempt"` // how many times that request failed
	Error   string    `json:"error"`
}

func (t *RemoteTrouble) String() string {
	return fmt.Sprintf("the remote fails (since %s): %s %s: %s (attempt %d)",
		t.Since.Local().Format(time.TimeOnly), t.Op, t.Key, t.Error, t.Attempt)
}

// troubleTracker holds the current RemoteTrouble: set by each retried
// failure, cleared once a retried request succeeds (the remote answers
// again), and forgotten when no failure came for longer than the retry
// wrapper's longest wait (nothing is retrying any more).
type troubleTracker struct {
	mu  sync.Mutex
	cur *RemoteTrouble
}

func (tt *troubleTracker) failed(e retry.Event) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	now := time.Now().UTC()
	since := now
	if tt.cur != nil {
		since = tt.cur.Since
	}
	tt.cur = &RemoteTrouble{Since: since, Time: now, Op: e.Op, Key: e.Key, Attempt: e.Attempt, Error: e.Err.Error()}
}

func (tt *troubleTracker) recovered() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.cur = nil
}

// troubleStale: retry.Options.Max (30s) plus a slow request.
const troubleStale = 90 * time.Second

// get returns a copy of the current trouble, nil if none.
func (tt *troubleTracker) get() *RemoteTrouble {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.cur == nil || time.Since(tt.cur.Time) > troubleStale {
		return nil
	}
	c := *tt.cur
	return &c
}
