package rofs

import (
	"context"
	"errors"
	"syscall"

	"github.com/syncfs/syncfs/browse"
)

// toErrno is the one place where errors become errnos. Corrupt remote
// objects were logged (once) by browse; other unexpected errors are
// logged here with what was being done, and become EIO.
func (fs *FS) toErrno(op string, what any, err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, browse.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, browse.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, browse.ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, browse.ErrCorrupt):
		fs.errors.Add(1)
		return syscall.EIO
	}
	fs.errors.Add(1)
	fs.logf("%s %v: %v", op, what, err)
	return syscall.EIO
}
