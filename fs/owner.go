package fs

import (
	"context"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// The daemon runs as root for other users, so it creates every entry as
// root and then gives it the caller's owner, as the kernel would for a
// local filesystem: uid of the caller; gid of the caller, or of the parent
// directory when that has the set-group-ID bit (and a new directory then
// inherits the bit). Modes arrive with the caller's umask already applied
// and the process umask is 0, so they are created exactly as asked; chown
// clears set-user-ID and set-group-ID, so those bits are put back after it.

type owner struct {
	uid, gid int
	setgid   bool // parent has S_ISGID
}

func (fs *FS) ownerFor(ctx context.Context, dirfd int) (owner, bool) {
	if !fs.asRoot {
		return owner{}, false
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return owner{}, false
	}
	o := owner{uid: int(caller.Uid), gid: int(caller.Gid)}
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err == nil && st.Mode&unix.S_ISGID != 0 {
		o.gid, o.setgid = int(st.Gid), true
	}
	return o, true
}

// chownNew gives the entry name in dirfd (or fd, when >= 0) its owner and
// restores the special mode bits chown cleared.
func (fs *FS) chownNew(ctx context.Context, dirfd int, name string, fd int, mode uint32, isDir, isLink bool) error {
	o, ok := fs.ownerFor(ctx, dirfd)
	if !ok {
		return nil
	}
	var err error
	if fd >= 0 {
		err = unix.Fchown(fd, o.uid, o.gid)
	} else {
		err = unix.Fchownat(dirfd, name, o.uid, o.gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil || isLink {
		return err
	}
	special := mode & (unix.S_ISUID | unix.S_ISGID | unix.S_ISVTX)
	if isDir && o.setgid {
		special |= unix.S_ISGID
	}
	if special&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return nil // sticky alone survives chown
	}
	perm := mode&0o7777 | special
	if fd >= 0 {
		return unix.Fchmod(fd, perm)
	}
	return unix.Fchmodat(dirfd, name, perm, 0)
}
