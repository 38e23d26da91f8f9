package fs

import (
	"context"
	"github.com/syncfs/syncfs/internal/beneath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes have no *at() system calls, so they are reached
// through /proc/self/fd of an O_PATH fd. Symlinks cannot carry user
// attributes on Linux; they report none.

func (n *node) xattrFd() (int, string, bool, syscall.Errno) {
	rel, ok := n.rel()
	if !ok {
		return -1, "", false, syscall.ENOENT
	}
	fd, err := n.fs.b.OpenNode(rel)
	if err != nil {
		return -1, rel, false, n.fs.toErrno("xattr", rel, err)
	}
	return fd, rel, n.StableAttr().Mode&unix.S_IFMT == unix.S_IFLNK, 0
}

var _ = (gofs.NodeGetxattrer)((*node)(nil))

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	fd, rel, link, errno := n.xattrFd()
	if errno != 0 {
		return 0, errno
	}
	defer unix.Close(fd)
	if link {
		return 0, syscall.ENODATA
	}
	sz, err := unix.Getxattr(beneath.ProcPath(fd), attr, dest)
	if err != nil {
		return 0, n.fs.toErrno("getxattr", rel, err)
	}
	return uint32(sz), 0
}

var _ = (gofs.NodeListxattrer)((*node)(nil))

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	fd, rel, link, errno := n.xattrFd()
	if errno != 0 {
		return 0, errno
	}
	defer unix.Close(fd)
	if link {
		return 0, 0
	}
	sz, err := unix.Listxattr(beneath.ProcPath(fd), dest)
	if err != nil {
		return 0, n.fs.toErrno("listxattr", rel, err)
	}
	return uint32(sz), 0
}

var _ = (gofs.NodeSetxattrer)((*node)(nil))

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.changeXattr("setxattr", func(path string) error {
		return unix.Setxattr(path, attr, data, int(flags))
	})
}

var _ = (gofs.NodeRemovexattrer)((*node)(nil))

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.changeXattr("removexattr", func(path string) error {
		return unix.Removexattr(path, attr)
	})
}

func (n *node) changeXattr(op string, change func(path string) error) syscall.Errno {
	fd, rel, link, errno := n.xattrFd()
	if errno != 0 {
		return errno
	}
	defer unix.Close(fd)
	if link {
		return syscall.EPERM
	}
	if err := change(beneath.ProcPath(fd)); err != nil {
		return n.fs.toErrno(op, rel, err)
	}
	if id := n.jid(); id != 0 {
		return n.fs.toErrno(op, rel, journalErr(n.fs.j.Xattr(id)))
	}
	return 0
}
