// Package backoff is the one place that says how long to wait before
// trying again: the remote's retries, a multipart upload's parts, the
// uploader's failing files, publishing.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exp is initial doubled per attempt (1-based), at most max.
func Exp(attempt int, initial, max time.Duration) time.Duration {
	d := max
	if attempt-1 < 32 {
		if c := initial << (attempt - 1); c > 0 && c < max {
			d = c
		}
	}
	return d
}

// Jitter is "full jitter": uniform in (0, Exp(attempt, initial, max)].
// Spreading the waits over the whole interval keeps many clients that
// failed together from retrying together.
func Jitter(attempt int, initial, max time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(Exp(attempt, initial, max)))) + 1
}

// Sleep waits d, or until ctx ends (then it returns ctx's cause).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
