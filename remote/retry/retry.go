package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/syncfs/syncfs/internal/backoff"
	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Store)(nil)

// Options tunes the backoff. Zero values take the defaults.
type Options struct {
	// Initial is the ceiling of the first wait; it doubles per attempt.
	// Default 200ms.
	Initial time.Duration
	// Max caps the ceiling of one wait. Default 30s.
	Max time.Duration
	// MaxElapsed bounds the time one operation may take, waits included:
	// no attempt starts after it. Default 5 minutes.
	MaxElapsed time.Duration
	// OnRetry, if set, is called before each wait. It must not block.
	OnRetry func(Event)
	// OnRecover, if set, is called when an operation succeeds after
	// failed attempts: whoever showed the failure can stop showing it.
	// It must not block.
	OnRecover func(op, key string, attempts int)
}

// Event describes a failed attempt that will be retried.
type Event struct {
	Op      string        // "put", "get", "stat", "list", "delete"
	Key     string        // key, or prefix for list
	Attempt int           // the attempt that failed, from 1
	Err     error         // its error
	Wait    time.Duration // the wait before the next attempt
}

// Store retries the operations of the Store it embeds.
type Store struct {
	remote.Store
	opts Options
}

// New wraps s.
func New(s remote.Store, opts Options) *Store {
	if opts.Initial <= 0 {
		opts.Initial = 200 * time.Millisecond
	}
	if opts.Max <= 0 {
		opts.Max = 30 * time.Second
	}
	if opts.MaxElapsed <= 0 {
		opts.MaxElapsed = 5 * time.Minute
	}
	return &Store{Store: s, opts: opts}
}

// do runs fn until it succeeds, fails permanently, the context ends, or
// the next attempt would start after MaxElapsed.
func (s *Store) do(ctx context.Context, op, key string, fn func() error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil && attempt > 1 && s.opts.OnRecover != nil {
			s.opts.OnRecover(op, key, attempt)
		}
		if err == nil || remote.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		wait := s.backoff(attempt)
		if elapsed := time.Since(start); elapsed+wait > s.opts.MaxElapsed {
			return fmt.Errorf("%w (gave up after %d attempts in %s)", err, attempt, elapsed.Round(time.Millisecond))
		}
		if s.opts.OnRetry != nil {
			s.opts.OnRetry(Event{Op: op, Key: key, Attempt: attempt, Err: err, Wait: wait})
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("remote %s: %s %s: %w while waiting to retry (attempt %d failed: %v)",
				s.String(), op, key, ctx.Err(), attempt, err)
		}
	}
}

// backoff is "full jitter" (internal/backoff): uniform in
// (0, min(Max, Initial*2^(attempt-1))].
func (s *Store) backoff(attempt int) time.Duration {
	return backoff.Jitter(attempt, s.opts.Initial, s.opts.Max)
}

// Put retries, rewinding body before each attempt.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	return s.do(ctx, "put", key, func() error {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return remote.Permanent(fmt.Errorf("remote %s: put %s: rewinding body: %w", s.String(), key, err))
		}
		return s.Store.Put(ctx, key, body, size, opts)
	})
}

// Get retries opening the object.
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := s.do(ctx, "get", key, func() error {
		var err error
		rc, err = s.Store.Get(ctx, key, off, length)
		return err
	})
	return rc, err
}

// Stat retries.
func (s *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	var oi remote.ObjectInfo
	err := s.do(ctx, "stat", key, func() error {
		var err error
		oi, err = s.Store.Stat(ctx, key)
		return err
	})
	return oi, err
}

// Delete retries.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.do(ctx, "delete", key, func() error { return s.Store.Delete(ctx, key) })
}

// errStop ends an inner List when fn failed; fn's own error is returned.
var errStop = remote.Permanent(errors.New("listing stopped by its callback"))

// List retries; a retry lists again from the start and skips the keys fn
// has seen (keys come in increasing order).
func (s *Store) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	var (
		last      string
		delivered bool
		fnErr     error
	)
	err := s.do(ctx, "list", prefix, func() error {
		return s.Store.List(ctx, prefix, func(oi remote.ObjectInfo) error {
			if delivered && oi.Key <= last {
				return nil
			}
			if err := fn(oi); err != nil {
				fnErr = err
				return errStop
			}
			last, delivered = oi.Key, true
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}
