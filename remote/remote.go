// Package remote defines the object store syncfs ships to: a small Store
// interface, the errors every backend classifies into, and key validation.
//
// Backends live in sub-packages (remote/file, remote/s3, remote/mem) and
// decorators that add behaviour without changing the interface live beside
// them (remote/retry, remote/limit). This package imports none of them;
// remote/backend maps a URL to a backend.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// PutOptions changes how Put behaves.
type PutOptions struct {
	// IfAbsent makes Put fail with an error wrapping ErrExists when an object
	// already exists at the key (a conditional create). Used for the writer
	// lease, so that two mounts racing for one prefix cannot both win.
	IfAbsent bool
}

// Store is an object store. Keys are '/'-separated paths relative to the
// store's root (a directory or a bucket prefix); see ValidKey.
//
// Implementations must be safe for concurrent use.
type Store interface {
	// Put stores size bytes read from body at key. The object appears
	// atomically: a reader sees the previous object or the new one, never a
	// mix. body may be read more than once (after Seek(0, io.SeekStart)),
	// so that a failed attempt can be retried; the object is always the
	// first size bytes from the start of body, wherever body was positioned.
	// A body shorter than size fails the Put and stores nothing.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts PutOptions) error

	// Get returns length bytes of the object starting at off; length < 0
	// means to the end of the object. A range that extends past the end is
	// cut short; one that starts at or past the end yields no bytes. A
	// missing object gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)

	// Stat returns the object's size and modification time, or an error
	// wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List calls fn for every object whose key starts with prefix, in
	// lexical order of keys. An error returned by fn stops the listing and
	// is returned by List.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes the object at key. Deleting a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error

	// String names the store for messages (a URL without credentials).
	String() string
}

var (
	// ErrNotFound is wrapped by errors for objects that do not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists is wrapped by errors from Put with IfAbsent when the key
	// is taken.
	ErrExists = errors.New("object already exists")
	// ErrInvalidKey is wrapped by errors for keys ValidKey rejects.
	ErrInvalidKey = errors.New("invalid object key")
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying will not fix (access denied, no
// such bucket, a malformed request). It returns nil for nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err}
}

// IsPermanent reports whether retrying the operation that returned err is
// pointless: the error was marked Permanent, or it is a not-found, exists or
// invalid-key error, or the context was cancelled.
func IsPermanent(err error) bool {
	var p *permanentError
	switch {
	case err == nil:
		return false
	case errors.As(err, &p),
		errors.Is(err, ErrNotFound),
		errors.Is(err, ErrExists),
		errors.Is(err, ErrInvalidKey),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// MaxKeyLen is the longest key accepted: S3's limit.
const MaxKeyLen = 1024

// maxComponentLen is the longest path component accepted: NAME_MAX, the limit
// of the file backend and of MinIO, which stores objects as files.
const maxComponentLen = 255

// ValidKey checks that key can name an object in every backend without
// escaping the store's root: non-empty valid UTF-8 of at most MaxKeyLen
// bytes, no control characters or backslashes, no leading, trailing or
// doubled '/', no "." or ".." component, no component longer than 255 bytes,
// and no component starting with ".syncfs-" (reserved for backends' own
// temporary files).
func ValidKey(key string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	if key == "" {
		return bad("empty")
	}
	if len(key) > MaxKeyLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	}
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return bad("contains a control character or backslash")
		}
	}
	for _, c := range strings.Split(key, "/") {
		switch {
		case c == "":
			return bad("empty path component")
		case c == "." || c == "..":
			return bad("contains a . or .. component")
		case len(c) > maxComponentLen:
			return bad(fmt.Sprintf("component longer than %d bytes", maxComponentLen))
		case strings.HasPrefix(c, ReservedPrefix):
			return bad("component uses the reserved prefix " + ReservedPrefix)
		}
	}
	return nil
}

// ReservedPrefix starts the names backends may use for their own files
// (temporary files of the file backend); no key component may start with it.
const ReservedPrefix = ".syncfs-"

// ReadAll reads a whole object. It is meant for small objects (manifests,
// leases): callers that may meet large objects use Get with a range.
func ReadAll(ctx context.Context, s Store, key string, limit int64) ([]byte, error) {
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("object %s is larger than %d bytes", key, limit)
	}
	return b, nil
}
