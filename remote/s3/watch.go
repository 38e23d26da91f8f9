package s3

import (
	"context"
	"errors"
	"io"
	"time"
)

// errStalled is the cause given to a request's context when it made no
// progress for StallTimeout.
var errStalled = errors.New("no progress")

// watchdog cancels one request when it stops making progress. A fixed
// deadline would not do: a large part on a slow link legitimately takes
// minutes, while a dead connection should be given up in seconds.
//
// Progress is, for a request body, every read the HTTP transport makes from
// it (the time between reads is time spent pushing bytes into the socket),
// and for a response body, the time spent inside a Read (time between Reads
// is the caller's, not the server's).
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

func watch(ctx context.Context, d time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(ctx)
	return &watchdog{ctx: ctx, cancel: cancel, d: d, timer: time.AfterFunc(d, func() { cancel(errStalled) })}
}

func (w *watchdog) kick()  { w.timer.Reset(w.d) }
func (w *watchdog) pause() { w.timer.Stop() }

// done releases the request's resources; the context is dead afterwards.
func (w *watchdog) done() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

func (w *watchdog) stalled() bool { return errors.Is(context.Cause(w.ctx), errStalled) }

// watchedBody is a request body whose reads count as progress.
type watchedBody struct {
	r io.ReadSeeker
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.w.kick()
	return n, err
}

func (b *watchedBody) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }
