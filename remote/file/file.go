package file

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Store)(nil)

// Store is a directory of objects. It holds no file descriptors between
// operations: every operation opens the root afresh, so a root that is
// replaced (an NFS remount, a directory recreated) is picked up, never
// written into while unlinked.
type Store struct {
	root string // absolute and clean
	name string // file:// URL
}

// New returns the store rooted at the absolute directory root. The
// directory need not exist yet; operations then fail with
// remote.ErrNoBucket (backend.Check reports it before mounting).
func New(root string) (*Store, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("file store root %q is not an absolute path", root)
	}
	root = filepath.Clean(root)
	u := url.URL{Scheme: "file", Path: root}
	return &Store{root: root, name: u.String()}, nil
}

// String returns the store's file:// URL.
func (s *Store) String() string { return s.name }

// Root returns the directory holding the objects.
func (s *Store) Root() string { return s.root }

// fail builds the error for op on key from a system call error, classifying
// errnos that a person must fix (and that retrying cannot).
func (s *Store) fail(op, key string, err error) error {
	e := &remote.Error{Store: s.name, Op: op, Key: key, Msg: err.Error(), Err: err}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return e // context errors: IsPermanent already covers them
	}
	switch errno {
	case unix.EACCES, unix.EPERM, unix.EROFS:
		e.Class = remote.ErrAccessDenied
		e.Msg = "access denied: " + err.Error()
		return remote.Permanent(e)
	case unix.ELOOP:
		e.Msg = "a symbolic link is in the way; the file backend does not follow symlinks inside its root"
		return remote.Permanent(e)
	case unix.ENAMETOOLONG, unix.EINVAL:
		return remote.Permanent(e)
	}
	// EIO, ENOSPC, EDQUOT, ESTALE, ...: may pass; let the retry wrapper try.
	return e
}

// notFound is the error for a missing object.
func (s *Store) notFound(op, key string) error {
	return &remote.Error{Store: s.name, Op: op, Key: key, Class: remote.ErrNotFound, Msg: "object not found"}
}

// conflict is the error for a key that cannot coexist with another.
func (s *Store) conflict(op, key, why string) error {
	return remote.Permanent(&remote.Error{Store: s.name, Op: op, Key: key, Class: remote.ErrKeyConflict,
		Msg: "key conflicts with an existing key: " + why + " (the file backend cannot hold both \"a\" and \"a/b\")"})
}

// openRoot opens the root directory for reading (so that it can be fsynced
// and used as the base of *at calls). Symlinks in the root's own path are
// followed: they are the administrator's, not the store's contents.
func (s *Store) openRoot() (int, error) {
	fd, err := unix.Open(s.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return -1, remote.Permanent(&remote.Error{Store: s.name, Class: remote.ErrNoBucket,
			Msg: fmt.Sprintf("directory %s does not exist (create it or fix the URL)", s.root), Err: err})
	}
	return -1, s.fail("open", s.root, err)
}

// split returns the directory part and the last component of a valid key.
func split(key string) (dir, name string) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}
