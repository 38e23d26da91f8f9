package fs

import (
	"context"
	"errors"
	"github.com/syncfs/syncfs/internal/beneath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// journaledChild reports whether a new entry name in n is journaled.
func (n *node) journaledChild(rel string) bool {
	return n.jid() != 0 && !n.fs.exclude.Match(rel)
}

var _ = (gofs.NodeCreater)((*node)(nil))

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	dir, errno := n.dirRel()
	if errno != 0 {
		return nil, nil, 0, errno
	}
	rel := beneath.Join(dir, name)
	if err := n.fs.j.Err(); err != nil && n.journaledChild(rel) {
		return nil, nil, 0, n.fs.toErrno("create", rel, journalErr(err))
	}
	n.fs.onNamespace(dir)
	flags = n.fs.openFlags(flags)
	dirfd, err := n.fs.b.OpenDir(dir)
	if err != nil {
		return nil, nil, 0, n.fs.toErrno("create", rel, err)
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat(dirfd, name, int(flags)|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, mode&0o7777)
	if err != nil {
		return nil, nil, 0, n.fs.toErrno("create", rel, err)
	}
	var st unix.Stat_t
	err = n.fs.chownNew(ctx, dirfd, name, fd, mode, false, false)
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	var id journal.ID
	if err == nil && n.journaledChild(rel) {
		id, err = n.fs.j.CreateOpen(n.jid(), name)
		err = journalErr(err)
	}
	if err != nil {
		unix.Close(fd)
		unix.Unlinkat(dirfd, name, 0)
		return nil, nil, 0, n.fs.toErrno("create", rel, err)
	}
	ch := n.newChild(ctx, name, id, &st, out)
	child := ch.Operations().(*node)
	// CreateOpen already marked the file open for write.
	h, fl := child.newHandle(fd, flags, id != 0)
	return ch, h, fl, 0
}

var _ = (gofs.NodeMkdirer)((*node)(nil))

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeEntry(ctx, "mkdir", name, mode, out, func(dirfd int) error {
		return unix.Mkdirat(dirfd, name, mode&0o7777)
	}, journal.KindDir, "")
}

var _ = (gofs.NodeSymlinker)((*node)(nil))

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeEntry(ctx, "symlink", name, 0, out, func(dirfd int) error {
		return unix.Symlinkat(target, dirfd, name)
	}, journal.KindSymlink, target)
}

var _ = (gofs.NodeMknoder)((*node)(nil))

// Mknod makes fifos, sockets and devices. They have no content to ship and
// are not journaled.
func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.makeEntry(ctx, "mknod", name, mode, out, func(dirfd int) error {
		return unix.Mknodat(dirfd, name, mode, int(rdev))
	}, 0, "")
}

// makeEntry creates an entry with mk, gives it the caller's owner, records
// it in the journal (kind 0: not journaled) and returns its node.
func (n *node) makeEntry(ctx context.Context, op, name string, mode uint32, out *fuse.EntryOut, mk func(dirfd int) error, kind journal.Kind, target string) (*gofs.Inode, syscall.Errno) {
	dir, errno := n.dirRel()
	if errno != 0 {
		return nil, errno
	}
	rel := beneath.Join(dir, name)
	n.fs.onNamespace(dir)
	journaled := kind != 0 && n.journaledChild(rel)
	if err := n.fs.j.Err(); err != nil && journaled {
		return nil, n.fs.toErrno(op, rel, journalErr(err))
	}
	var st unix.Stat_t
	var id journal.ID
	err := n.fs.b.WithDir(dir, func(dirfd int) error {
		if err := mk(dirfd); err != nil {
			return err
		}
		remove := func() {
			if kind == journal.KindDir {
				unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
			} else {
				unix.Unlinkat(dirfd, name, 0)
			}
		}
		err := n.fs.chownNew(ctx, dirfd, name, -1, mode, kind == journal.KindDir, kind == journal.KindSymlink)
		if err == nil {
			err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil && journaled {
			id, err = n.fs.j.Create(n.jid(), name, kind, target)
			err = journalErr(err)
		}
		if err != nil {
			remove()
		}
		return err
	})
	if err != nil {
		return nil, n.fs.toErrno(op, rel, err)
	}
	return n.newChild(ctx, name, id, &st, out), 0
}

var _ = (gofs.NodeLinker)((*node)(nil))

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	dir, errno := n.dirRel()
	if errno != 0 {
		return nil, errno
	}
	rel := beneath.Join(dir, name)
	n.fs.onNamespace(dir)
	trel, ok := t.rel()
	if !ok {
		// No name to link from: an O_TMPFILE file gets its first name.
		var st unix.Stat_t
		var id journal.ID
		err := n.fs.b.WithDir(dir, func(dirfd int) error {
			var err error
			id, err = n.linkTmpfile(t, dirfd, name, rel, &st)
			return err
		})
		if err != nil {
			return nil, n.fs.toErrno("link", rel, err)
		}
		t.id.Store(uint64(id))
		fillAttr(&out.Attr, &st, t.StableAttr().Ino)
		return t.EmbeddedInode(), 0
	}
	tdir, tname := beneath.Split(trel)
	var st unix.Stat_t
	var id journal.ID
	err := n.fs.b.WithDir(tdir, func(tdirfd int) error {
		return n.fs.b.WithDir(dir, func(dirfd int) error {
			if err := unix.Linkat(tdirfd, tname, dirfd, name, 0); err != nil {
				return err
			}
			if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			if !n.journaledChild(rel) || kindOf(st.Mode) == 0 {
				return nil
			}
			var err error
			if tid := t.jid(); tid != 0 {
				id, err = tid, n.fs.j.Link(tid, n.jid(), name)
			} else {
				// Linked from an excluded name: new to the journal.
				id, err = n.fs.j.Adopt(n.jid(), name, kindOf(st.Mode), "", st.Size)
			}
			if err != nil {
				unix.Unlinkat(dirfd, name, 0)
			}
			return journalErr(err)
		})
	})
	if err != nil {
		return nil, n.fs.toErrno("link", rel, err)
	}
	if id != t.jid() {
		return n.newChild(ctx, name, id, &st, out), 0
	}
	fillAttr(&out.Attr, &st, t.StableAttr().Ino)
	return t.EmbeddedInode(), 0
}

var _ = (gofs.NodeUnlinker)((*node)(nil))

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, "unlink", name, 0)
}

var _ = (gofs.NodeRmdirer)((*node)(nil))

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, "rmdir", name, unix.AT_REMOVEDIR)
}

func (n *node) remove(ctx context.Context, op, name string, flags int) syscall.Errno {
	dir, errno := n.dirRel()
	if errno != 0 {
		return errno
	}
	rel := beneath.Join(dir, name)
	n.fs.onNamespace(dir)
	err := n.fs.b.WithDir(dir, func(dirfd int) error {
		return unix.Unlinkat(dirfd, name, flags)
	})
	if err != nil {
		return n.fs.toErrno(op, rel, err)
	}
	if parent := n.jid(); parent != 0 {
		if _, _, ok := n.fs.j.Lookup(parent, name); ok {
			err := n.fs.j.Remove(parent, name)
			if err != nil && !errors.Is(err, journal.ErrNotFound) { // a reconciler may have been first
				return n.fs.toErrno(op, rel, journalErr(err))
			}
		}
	}
	return 0
}

var _ = (gofs.NodeRenamer)((*node)(nil))

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL // RENAME_WHITEOUT is for overlayfs
	}
	dir, errno := n.dirRel()
	if errno != 0 {
		return errno
	}
	ndir, errno := np.dirRel()
	if errno != 0 {
		return errno
	}
	rel, nrel := beneath.Join(dir, name), beneath.Join(ndir, newName)
	n.fs.onNamespace(dir)
	n.fs.onNamespace(ndir)
	err := n.fs.b.WithDir(dir, func(dirfd int) error {
		return n.fs.b.WithDir(ndir, func(ndirfd int) error {
			return unix.Renameat2(dirfd, name, ndirfd, newName, uint(flags))
		})
	})
	if err != nil {
		return n.fs.toErrno("rename", rel, err)
	}
	exchange := flags&unix.RENAME_EXCHANGE != 0
	if err := n.fs.renameJournal(n, name, rel, np, newName, nrel, exchange); err != nil {
		if errors.Is(err, journal.ErrNotFound) {
			// A reconciler changed the journal in between; the backing
			// dir is right and the watcher brings the journal in line.
			n.fs.logf("rename %q: %v", rel, err)
			return 0
		}
		return n.fs.toErrno("rename", rel, journalErr(err))
	}
	return 0
}

// renameJournal records a rename that already happened in the backing
// directory. Moving between a journaled and an excluded name looks, from
// the remote, like an unlink or a create.
func (fs *FS) renameJournal(src *node, name, rel string, dst *node, newName, nrel string, exchange bool) error {
	j := fs.j
	srcID, dstID := src.jid(), dst.jid()
	srcIn := srcID != 0 && !fs.exclude.Match(rel)  // a journaled name
	dstIn := dstID != 0 && !fs.exclude.Match(nrel) // a journaled name
	_, _, srcKnown := j.Lookup(srcID, name)
	if !srcIn {
		srcKnown = false
	}
	_, _, dstKnown := j.Lookup(dstID, newName)
	if !dstIn {
		dstKnown = false
	}
	moved := src.GetChild(name) // go-fuse has not moved the child yet
	switch {
	case srcKnown && dstIn && (!exchange || dstKnown):
		if err := j.Rename(srcID, name, dstID, newName, exchange); err != nil {
			return err
		}
		return nil
	case srcKnown && !exchange:
		// Into an excluded name: gone from the remote's view.
		if err := j.Remove(srcID, name); err != nil {
			return err
		}
		if m, ok := nodeOf(moved); ok {
			m.id.Store(0)
		}
		return nil
	}
	// Anything else (out of an excluded name, or an exchange across the
	// boundary): drop what the journal had at both names and adopt what
	// the backing directory now holds there.
	for _, e := range []struct {
		parent journal.ID
		name   string
		known  bool
	}{{srcID, name, srcKnown}, {dstID, newName, dstKnown}} {
		if e.known {
			if err := j.Remove(e.parent, e.name); err != nil {
				return err
			}
		}
	}
	if dstIn {
		id, err := fs.adoptTree(dst, newName, nrel)
		if err != nil {
			return err
		}
		if m, ok := nodeOf(moved); ok {
			m.id.Store(uint64(id))
		}
	}
	if exchange && srcIn {
		id, err := fs.adoptTree(src, name, rel)
		if err != nil {
			return err
		}
		if m, ok := nodeOf(dst.GetChild(newName)); ok {
			m.id.Store(uint64(id))
		}
	}
	return nil
}

func nodeOf(i *gofs.Inode) (*node, bool) {
	if i == nil {
		return nil, false
	}
	n, ok := i.Operations().(*node)
	return n, ok
}

var _ = (gofs.NodeOpendirHandler)((*node)(nil))

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	rel, errno := n.dirRel()
	if errno != 0 {
		return nil, 0, errno
	}
	fd, err := n.fs.b.Open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, 0, n.fs.toErrno("opendir", rel, err)
	}
	ds, errno := gofs.NewLoopbackDirStreamFd(fd)
	if errno != 0 {
		unix.Close(fd)
		return nil, 0, errno
	}
	return &dirHandle{DirStream: ds, n: n, fdv: fd}, 0, 0
}

var _ = (gofs.NodeReaddirer)((*node)(nil))

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	h, _, errno := n.OpendirHandle(ctx, 0)
	if errno != 0 {
		return nil, errno
	}
	return h.(*dirHandle), 0
}
