package fs

import "time"

// When a read-only open may use kernel passthrough.
//
// The kernel puts each inode in one I/O mode at a time: while any handle
// is open with passthrough, every other open of the inode must be
// passthrough too, and while any handle is open in the cached mode, a
// passthrough open fails (fs/fuse/iomode.c). A writable handle must not
// be passthrough, or its writes would bypass the daemon and the journal.
//
// So a read-only open gets passthrough only when nothing else has the
// inode open and no writer closed it during the last quiet period (a
// solver that opens, appends and closes in a loop keeps the file in the
// cached mode). If a writer does come while passthrough readers are open,
// its handle must be passthrough as well: it is a "blind" writer whose
// writes the daemon never sees, so when it is flushed or closed the whole
// file is recorded dirty. That costs a full re-read of the file for the
// uploader, in a case that should be rare, and never loses a byte.

type openMode int

const (
	modeCached      openMode = iota // I/O goes through the daemon
	modePassthrough                 // read-only, served by the kernel
	modeBlind                       // writable, forced into passthrough
)

// chooseMode decides and counts the I/O mode of a new handle of n.
func (n *node) chooseMode(writable bool) openMode {
	n.mu.Lock()
	defer n.mu.Unlock()
	if writable {
		n.lastWrite = time.Now()
	}
	switch {
	case n.ptReaders > 0:
		n.ptReaders++
		if writable {
			return modeBlind
		}
		return modePassthrough
	case !writable && n.writers == 0 && n.cachedOpen == 0 &&
		n.fs.passthrough.Load() && time.Since(n.lastWrite) >= n.fs.quiet:
		n.ptReaders++
		return modePassthrough
	}
	n.cachedOpen++
	if writable {
		n.writers++
	}
	return modeCached
}

// releaseMode undoes chooseMode when a handle is released.
func (n *node) releaseMode(m openMode, writable bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if writable {
		n.lastWrite = time.Now()
	}
	if m == modeCached {
		n.cachedOpen--
		if writable {
			n.writers--
		}
		return
	}
	n.ptReaders--
}
