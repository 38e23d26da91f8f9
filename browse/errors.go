package browse

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/syncfs/syncfs/format"
)

var (
	// ErrNotExist: no such file or directory in the tree.
	ErrNotExist = fs.ErrNotExist
	// ErrCorrupt: the remote holds something a reader must not trust (a
	// bad checksum, a malformed manifest, a reference to a missing or too
	// small object). It is format.ErrCorrupt, so decoder errors match it.
	ErrCorrupt = format.ErrCorrupt
	// ErrStale: the manifest a read was planned from has been superseded
	// and what it refers to deleted. Re-read the manifest and retry the
	// whole read (Tree.Follow does).
	ErrStale = errors.New("manifest version superseded while reading")
	// ErrNotDir and ErrIsDir: a path is not what the operation needs.
	ErrNotDir = errors.New("not a directory")
	ErrIsDir  = errors.New("is a directory")
	// ErrNoTree: no syncfs.json at the URL or any parent of it.
	ErrNoTree = errors.New("no syncfs tree")
)

// staleError is ErrStale for the object key that was not found.
type staleError struct{ key string }

func (e *staleError) Error() string {
	return fmt.Sprintf("%s: not found (%v)", e.key, ErrStale)
}

func (e *staleError) Is(target error) bool { return target == ErrStale }

func stale(key string) error { return &staleError{key} }

// notExistError is ErrNotExist with its own words.
type notExistError struct{ msg string }

func (e *notExistError) Error() string { return e.msg }
func (e *notExistError) Unwrap() error { return ErrNotExist }

func notExist(format string, args ...any) error {
	return &notExistError{fmt.Sprintf(format, args...)}
}
