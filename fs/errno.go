package fs

import (
	"errors"
	"syscall"
)

// toErrno is the one place where errors become errnos. System call errors
// pass through. A journal that cannot record gives ENOSPC when its disk is
// full (something the writer can act on) and EIO otherwise; journal
// failures and anything unexpected are logged with their context.
func (fs *FS) toErrno(op, rel string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, errJournal) {
		fs.logf("%s %q: %v", op, rel, err)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return syscall.ENOSPC
		}
		return syscall.EIO
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	fs.logf("%s %q: %v", op, rel, err)
	return syscall.EIO
}

// errJournal marks journal failures, wrapped by journalErr.
var errJournal = errors.New("journal")

func journalErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.Join(errJournal, err)
}

// errno is toErrno for an operation on an open file, named by its path
// (computed only for an error that is logged).
func (f *file) errno(op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	rel, _ := f.n.rel()
	return f.n.fs.toErrno(op, rel, err)
}
