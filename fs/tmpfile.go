package fs

import (
	"context"
	"github.com/syncfs/syncfs/internal/beneath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// Files made with O_TMPFILE have no name, so nothing of them is journaled
// until linkat(2) gives them one; then the file is adopted, content and
// all. The node keeps an O_PATH fd of the backing file for that link,
// since the LINK request names only the inode.

var _ = (gofs.NodeTmpfiler)((*node)(nil))

func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	rel, errno := n.dirRel()
	if errno != 0 {
		return nil, nil, 0, errno
	}
	flags = n.fs.openFlags(flags)
	fd, err := n.fs.b.Open(rel, int(flags)|unix.O_TMPFILE, mode&0o7777)
	if err != nil {
		return nil, nil, 0, n.fs.toErrno("tmpfile", rel, err)
	}
	var st unix.Stat_t
	err = n.fs.b.WithDir(rel, func(dirfd int) error {
		return n.fs.chownNew(ctx, dirfd, "", fd, mode, false, false)
	})
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	var pathFd int
	if err == nil {
		pathFd, err = unix.Open(beneath.ProcPath(fd), unix.O_PATH|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		unix.Close(fd)
		return nil, nil, 0, n.fs.toErrno("tmpfile", rel, err)
	}
	child := &node{fs: n.fs, tmpFd: pathFd}
	sa := stableAttr(0, &st)
	fillAttr(&out.Attr, &st, sa.Ino)
	ch := n.NewInode(ctx, child, sa)
	h, fl := child.newHandle(fd, flags, false)
	return ch, h, fl, 0
}

var _ = (gofs.NodeOnForgetter)((*node)(nil))

func (n *node) OnForget() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tmpFd > 0 {
		unix.Close(n.tmpFd)
		n.tmpFd = 0
	}
}

// linkTmpfile gives the O_TMPFILE file of t the name name in directory
// dirfd and adopts it.
func (n *node) linkTmpfile(t *node, dirfd int, name, rel string, st *unix.Stat_t) (journal.ID, error) {
	t.mu.Lock()
	fd := t.tmpFd
	t.mu.Unlock()
	if fd <= 0 {
		return 0, unix.ENOENT
	}
	if err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH); err != nil {
		return 0, err
	}
	if err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	if !n.journaledChild(rel) {
		return 0, nil
	}
	id, err := n.fs.j.Adopt(n.jid(), name, journal.KindFile, "", st.Size)
	if err != nil {
		unix.Unlinkat(dirfd, name, 0)
		return 0, journalErr(err)
	}
	return id, nil
}
