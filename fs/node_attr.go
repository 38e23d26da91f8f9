package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
)

var _ = (gofs.NodeSetattrer)((*node)(nil))

// Setattr is chmod, chown, truncate and utimens. The kernel already
// checked permissions (default_permissions); the daemon, as root, applies
// the change and records it.
func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	rel, hasPath := n.rel()
	var fd int
	var wfd = -1 // a writable fd for truncate, when the caller has one
	if f, ok := fh.(handle); ok {
		fd = f.fd()
		if ff, ok := fh.(*file); ok && ff.writable {
			wfd = fd
		} else if pf, ok := fh.(*ptFile); ok && pf.writable {
			wfd = fd
		}
	} else if hasPath {
		var err error
		if fd, err = n.fs.b.OpenNode(rel); err != nil {
			return n.fs.toErrno("setattr", rel, err)
		}
		defer unix.Close(fd)
	} else {
		return syscall.ENOENT
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return n.fs.toErrno("setattr", rel, err)
	}
	if err := n.setattr(rel, hasPath, fd, wfd, &st, in); err != nil {
		return n.fs.toErrno("setattr", rel, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return n.fs.toErrno("setattr", rel, err)
	}
	fillAttr(&out.Attr, &st, n.StableAttr().Ino)
	return 0
}

func (n *node) setattr(rel string, hasPath bool, fd, wfd int, st *unix.Stat_t, in *fuse.SetAttrIn) error {
	id, j := n.jid(), n.fs.j
	attrChanged := false
	if mode, ok := in.GetMode(); ok && st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(unix.AT_FDCWD, beneath.ProcPath(fd), mode&0o7777, 0); err != nil {
			return err
		}
		attrChanged = true
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := unix.Fchownat(fd, "", u, g, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		attrChanged = true
	}
	if size, ok := in.GetSize(); ok {
		var err error
		if id != 0 {
			// Bytes from the smaller size on change (journal.Touched).
			from := min(int64(size), st.Size)
			j.BeginWrite(id, from, journal.Whole)
			defer j.EndWrite(id, from, journal.Whole, 0) // Truncate records them
		}
		if wfd >= 0 {
			err = unix.Ftruncate(wfd, int64(size))
		} else if hasPath {
			var tfd int
			if tfd, err = n.fs.b.Open(rel, unix.O_WRONLY|unix.O_NOFOLLOW, 0); err == nil {
				err = unix.Ftruncate(tfd, int64(size))
				unix.Close(tfd)
			}
		} else {
			err = unix.EBADF
		}
		if err != nil {
			return err
		}
		if id != 0 {
			if err := j.Truncate(id, st.Size, int64(size)); err != nil {
				return journalErr(err)
			}
		}
	}
	if in.Valid&fuse.FATTR_KILL_SUIDGID != 0 && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := killSuidgid(fd); err != nil {
			return err
		}
		attrChanged = true
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if in.Valid&fuse.FATTR_ATIME != 0 {
			ts[0] = unix.Timespec{Sec: int64(in.Atime), Nsec: int64(in.Atimensec)}
			if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
				ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
			}
		}
		if in.Valid&fuse.FATTR_MTIME != 0 {
			ts[1] = unix.Timespec{Sec: int64(in.Mtime), Nsec: int64(in.Mtimensec)}
			if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
				ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
			}
		}
		if err := n.utimens(rel, hasPath, fd, st, &ts); err != nil {
			return err
		}
		attrChanged = true
	}
	if attrChanged && id != 0 {
		return journalErr(j.Setattr(id))
	}
	return nil
}

// utimens sets times on the node: through its parent for a symlink (an
// O_PATH fd of a link cannot take them), through the fd otherwise.
func (n *node) utimens(rel string, hasPath bool, fd int, st *unix.Stat_t, ts *[2]unix.Timespec) error {
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if !hasPath {
			return unix.ENOENT
		}
		dir, name := beneath.Split(rel)
		return n.fs.b.WithDir(dir, func(dirfd int) error {
			return unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
		})
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, beneath.ProcPath(fd), ts[:], 0)
}

// killSuidgid clears set-user-ID, and set-group-ID when group execute is
// set, as the kernel does when an unprivileged user writes, truncates or
// chowns a file (the daemon must do it itself: it negotiates
// HANDLE_KILLPRIV_V2, and root's own writes would clear nothing).
func killSuidgid(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	mode := st.Mode & 0o7777
	clear := uint32(unix.S_ISUID)
	if mode&unix.S_IXGRP != 0 {
		clear |= unix.S_ISGID
	}
	if mode&clear == 0 {
		return nil
	}
	return unix.Fchmodat(unix.AT_FDCWD, beneath.ProcPath(fd), mode&^clear, 0)
}
