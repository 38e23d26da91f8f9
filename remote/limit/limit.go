// Package limit is a remote.Store decorator that bounds how many operations
// run at once, so that a burst of uploads (or a browse of many files) does
// not open hundreds of connections or exceed a server's request limits.
//
// Put, Get, Stat and Delete take a slot; Get keeps it until the returned
// reader is closed, because the open body holds a connection. List does not
// take one: its callback often calls the store (delete what is listed), and
// a List holding a slot while waiting for one would deadlock a limit of 1.
package limit

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Store)(nil)

// Store limits the concurrency of the Store it embeds.
type Store struct {
	remote.Store
	slots chan struct{}
}

// New wraps s, allowing n operations at once (at least 1).
func New(s remote.Store, n int) *Store {
	return &Store{Store: s, slots: make(chan struct{}, max(n, 1))}
}

func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remote %s: waiting for a free slot: %w", s.String(), ctx.Err())
	}
}

func (s *Store) release() { <-s.slots }

// Put runs when a slot is free.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.Store.Put(ctx, key, body, size, opts)
}

// Get holds its slot until the reader is closed.
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	rc, err := s.Store.Get(ctx, key, off, length)
	if err != nil {
		s.release()
		return nil, err
	}
	return &slotReader{ReadCloser: rc, release: sync.OnceFunc(s.release)}, nil
}

type slotReader struct {
	io.ReadCloser
	release func()
}

func (r *slotReader) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// Stat runs when a slot is free.
func (s *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	if err := s.acquire(ctx); err != nil {
		return remote.ObjectInfo{}, err
	}
	defer s.release()
	return s.Store.Stat(ctx, key)
}

// Delete runs when a slot is free.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.Store.Delete(ctx, key)
}
