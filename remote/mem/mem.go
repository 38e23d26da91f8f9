// Package mem is an in-memory remote.Store for unit tests of the packages
// above remote (uploader, browse): fast, deterministic, no server.
//
// It follows the strictest backend on purpose: like the file backend it
// refuses a key that is a parent "directory" of another ("a" next to "a/b")
// with remote.ErrKeyConflict, so a key layout that would break file:// is
// caught by unit tests rather than in production.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Store)(nil)

type object struct {
	data    []byte
	modTime time.Time
}

// Store keeps objects in a map. The zero value is not usable; call New.
type Store struct {
	name string

	mu      sync.Mutex
	objects map[string]object
	dirs    map[string]int // "a/b" -> number of objects strictly under "a/b/"
}

// New returns an empty store; name appears in String and in messages.
func New(name string) *Store {
	if name == "" {
		name = "mem://"
	}
	return &Store{name: name, objects: map[string]object{}, dirs: map[string]int{}}
}

// String names the store.
func (s *Store) String() string { return s.name }

func (s *Store) errf(op, key string, err error) error {
	return fmt.Errorf("remote %s: %s %s: %w", s.name, op, key, err)
}

// Put stores a copy of the first size bytes of body.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	if err := remote.ValidKey(key); err != nil {
		return err
	}
	if size < 0 {
		return remote.Permanent(s.errf("put", key, fmt.Errorf("negative size %d", size)))
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return s.errf("put", key, fmt.Errorf("rewinding body: %w", err))
	}
	// Read before taking the lock: body may be slow.
	data := make([]byte, size)
	if n, err := io.ReadFull(body, data); err != nil {
		return remote.Permanent(s.errf("put", key, fmt.Errorf("body ended after %d of %d bytes: %w", n, size, err)))
	}
	if err := ctx.Err(); err != nil {
		return s.errf("put", key, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conflictLocked(key); err != nil {
		return s.errf("put", key, err)
	}
	if _, ok := s.objects[key]; ok {
		if opts.IfAbsent {
			return s.errf("put", key, remote.ErrExists)
		}
	} else {
		for _, d := range parents(key) {
			s.dirs[d]++
		}
	}
	s.objects[key] = object{data: data, modTime: time.Now()}
	return nil
}

// conflictLocked reports whether key is a parent directory of an existing
// key or has an existing key as a parent directory.
func (s *Store) conflictLocked(key string) error {
	if s.dirs[key] > 0 {
		return remote.Permanent(fmt.Errorf("%w: keys exist under %s/", remote.ErrKeyConflict, key))
	}
	for _, d := range parents(key) {
		if _, ok := s.objects[d]; ok {
			return remote.Permanent(fmt.Errorf("%w: %s is an object", remote.ErrKeyConflict, d))
		}
	}
	return nil
}

// parents returns the "directories" above key: "a/b/c" -> "a", "a/b".
func parents(key string) []string {
	var ps []string
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			ps = append(ps, key[:i])
		}
	}
	return ps
}

// Get returns a reader over a range of the object.
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := remote.ValidKey(key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, remote.Permanent(s.errf("get", key, fmt.Errorf("negative offset %d", off)))
	}
	if err := ctx.Err(); err != nil {
		return nil, s.errf("get", key, err)
	}
	s.mu.Lock()
	o, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		return nil, s.errf("get", key, remote.ErrNotFound)
	}
	// o.data is never modified after Put (an overwrite stores a new slice),
	// so the reader needs no lock.
	end := int64(len(o.data))
	if off > end {
		off = end
	}
	if length >= 0 && off+length < end {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(o.data[off:end])), nil
}

// Stat returns the object's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	if err := remote.ValidKey(key); err != nil {
		return remote.ObjectInfo{}, err
	}
	s.mu.Lock()
	o, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		return remote.ObjectInfo{}, s.errf("stat", key, remote.ErrNotFound)
	}
	return remote.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// List calls fn for every object under prefix in key order. It works on a
// snapshot taken at the start, so fn may call back into the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	s.mu.Lock()
	var infos []remote.ObjectInfo
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, remote.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	s.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return s.errf("list", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := remote.ValidKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		delete(s.objects, key)
		for _, d := range parents(key) {
			if s.dirs[d]--; s.dirs[d] == 0 {
				delete(s.dirs, d)
			}
		}
	}
	return nil
}
