package file

import (
	"errors"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2(2) turned out to be missing (Linux < 5.6).
var noOpenat2 atomic.Bool

// openBeneath opens rel (a '/'-separated path of validated components, or
// "" for dirfd itself) relative to dirfd without following any symlink and
// without leaving dirfd's tree.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	flags |= unix.O_CLOEXEC
	if rel == "" {
		rel = "."
	}
	if !noOpenat2.Load() {
		fd, err := openat2Beneath(dirfd, rel, flags)
		if !errors.Is(err, unix.ENOSYS) {
			return fd, err
		}
		noOpenat2.Store(true)
	}
	return walkNoFollow(dirfd, rel, flags)
}

// walkNoFollow is openBeneath for kernels without openat2: it opens one
// component at a time with O_NOFOLLOW, so a symlink anywhere fails with
// ELOOP (or ENOTDIR) instead of being followed. Validated keys have no "."
// or ".." components, so the walk cannot climb out.
func walkNoFollow(dirfd int, rel string, flags int) (int, error) {
	if rel == "." {
		return unix.Openat(dirfd, ".", flags, 0)
	}
	parts := strings.Split(rel, "/")
	cur := dirfd
	for i, p := range parts {
		f := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW
		}
		fd, err := unix.Openat(cur, p, f, 0)
		if cur != dirfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

func openat2Beneath(dirfd int, rel string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	var err error
	for range 8 {
		var fd int
		fd, err = unix.Openat2(dirfd, rel, &how)
		// EAGAIN: a concurrent rename raced the lookup and the kernel asks
		// us to try again rather than risk resolving outside the root.
		if err == nil || !(errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN)) {
			return fd, err
		}
	}
	return -1, err
}
