package file

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

// Delete removes the object's file, then the directories above it that the
// removal left empty (best effort: a directory another writer just put
// something into stays). A missing object, or a key that names a directory,
// is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := remote.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.fail("delete", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer unix.Close(root)

	dir, name := split(key)
	dirfd, err := openBeneath(root, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return s.fail("delete", key, err)
	}
	err = unix.Unlinkat(dirfd, name, 0)
	unix.Close(dirfd)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EISDIR):
		return nil
	default:
		return s.fail("delete", key, err)
	}
	s.pruneDirs(root, dir)
	return nil
}

// pruneDirs removes dir and its parents, deepest first, while they are
// empty. rmdir(2) refuses a non-empty directory, so a racing Put that has
// created its temporary file keeps its directory; one that has not yet
// done so sees the directory vanish and starts over (errDirGone).
func (s *Store) pruneDirs(root int, dir string) {
	for dir != "" {
		parent, name := split(dir)
		pfd, err := openBeneath(root, parent, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return
		}
		err = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		unix.Close(pfd)
		if err != nil {
			return
		}
		dir = parent
	}
}
