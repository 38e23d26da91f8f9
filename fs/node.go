package fs

import (
	"context"
	"github.com/syncfs/syncfs/internal/beneath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// node is one file, directory or symlink of the mount.
type node struct {
	gofs.Inode
	fs *FS

	// id is the journal ID, 0 when the node is not journaled (excluded,
	// or a fifo or device). It changes when a rename moves the node into
	// or out of an excluded name.
	id atomic.Uint64

	// wmu serializes the node's writes to its backing file. The backing
	// file system takes the inode's lock for every buffered write anyway;
	// without wmu the writeback cache's parallel WRITEs spin on that lock
	// in the kernel (rwsem_spin_on_owner), on a 2-core machine a third of
	// the daemon's CPU in a sequential write, and slow the copy they wait
	// for. Parked goroutines cost nothing.
	wmu sync.Mutex

	mu         sync.Mutex // guards the fields below; see passthrough.go
	writers    int        // open writable handles in the cached mode
	cachedOpen int        // open handles in the cached mode, writers included
	ptReaders  int        // open handles in passthrough mode
	lastWrite  time.Time  // when a writable handle was last opened or closed
	tmpFd      int        // O_PATH fd of an O_TMPFILE file, until linked or forgotten
}

func (n *node) jid() journal.ID { return journal.ID(n.id.Load()) }

// rel returns the node's path relative to the backing root, and false when
// the node has no path (unlinked while open).
func (n *node) rel() (string, bool) {
	var parts []string
	var p *gofs.Inode = n.EmbeddedInode()
	root := p.Root()
	for p != root {
		name, parent := p.Parent()
		if parent == nil {
			return "", false
		}
		parts = append(parts, name)
		p = parent
	}
	size := 0
	for _, s := range parts {
		size += len(s) + 1
	}
	b := make([]byte, 0, size)
	for i := len(parts) - 1; i >= 0; i-- {
		if len(b) > 0 {
			b = append(b, '/')
		}
		b = append(b, parts[i]...)
	}
	return string(b), true
}

// dirRel is rel for a node used as a directory; an orphaned directory can
// hold nothing.
func (n *node) dirRel() (string, syscall.Errno) {
	rel, ok := n.rel()
	if !ok {
		return "", syscall.ENOENT
	}
	return rel, 0
}

// childID decides the journal ID of the entry name of directory n found in
// the backing directory with stat st: the one the journal has, or a new
// one for an entry the journal never saw (it is adopted: shipped whole).
func (n *node) childID(rel, name string, st *unix.Stat_t, dirfd int) (journal.ID, error) {
	parent := n.jid()
	kind := kindOf(st.Mode)
	if parent == 0 || kind == 0 || n.fs.exclude.Match(rel) {
		return 0, nil
	}
	j := n.fs.j
	id, k, ok := j.Lookup(parent, name)
	if ok && k == kind {
		return id, nil
	}
	if ok {
		// Replaced behind the mount's back by something of another kind.
		if err := j.RemoveIf(parent, name, id); err != nil {
			return 0, journalErr(err)
		}
	}
	target := ""
	if kind == journal.KindSymlink {
		t, err := readlinkat(dirfd, name)
		if err != nil {
			return 0, err
		}
		target = t
	}
	id, _, err := j.AdoptIfAbsent(parent, name, kind, target, st.Size)
	return id, journalErr(err)
}

// newChild makes the node for entry name of n and fills out.
func (n *node) newChild(ctx context.Context, name string, id journal.ID, st *unix.Stat_t, out *fuse.EntryOut) *gofs.Inode {
	child := &node{fs: n.fs}
	child.id.Store(uint64(id))
	sa := stableAttr(id, st)
	fillAttr(&out.Attr, st, sa.Ino)
	return n.NewInode(ctx, child, sa)
}

var _ = (gofs.NodeLookuper)((*node)(nil))

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	dir, errno := n.dirRel()
	if errno != 0 {
		return nil, errno
	}
	rel := beneath.Join(dir, name)
	var st unix.Stat_t
	var id journal.ID
	err := n.fs.b.WithDir(dir, func(dirfd int) error {
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		var err error
		id, err = n.childID(rel, name, &st, dirfd)
		return err
	})
	if err != nil {
		if err == unix.ENOENT {
			n.forget(name)
			return nil, syscall.ENOENT
		}
		return nil, n.fs.toErrno("lookup", rel, err)
	}
	return n.newChild(ctx, name, id, &st, out), 0
}

// forget drops a journal entry whose backing file is gone (deleted behind
// the mount's back), so the remote follows.
func (n *node) forget(name string) {
	parent := n.jid()
	if parent == 0 {
		return
	}
	if _, _, ok := n.fs.j.Lookup(parent, name); ok {
		if err := n.fs.j.Remove(parent, name); err != nil {
			n.fs.logf("forget %q: %v", name, err)
		}
	}
}

var _ = (gofs.NodeGetattrer)((*node)(nil))

func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	if f, ok := fh.(handle); ok {
		if err := unix.Fstat(f.fd(), &st); err != nil {
			return n.fs.toErrno("getattr", "", err)
		}
	} else {
		rel, ok := n.rel()
		if !ok {
			return syscall.ENOENT
		}
		if err := n.fstat(rel, &st); err != nil {
			return n.fs.toErrno("getattr", rel, err)
		}
	}
	fillAttr(&out.Attr, &st, n.StableAttr().Ino)
	return 0
}

func (n *node) fstat(rel string, st *unix.Stat_t) error {
	fd, err := n.fs.b.OpenNode(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fstat(fd, st)
}

var _ = (gofs.NodeStatfser)((*node)(nil))

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var s unix.Statfs_t
	if err := unix.Fstatfs(n.fs.b.Root, &s); err != nil {
		return n.fs.toErrno("statfs", "", err)
	}
	var ss syscall.Statfs_t
	ss.Blocks, ss.Bfree, ss.Bavail, ss.Files, ss.Ffree = s.Blocks, s.Bfree, s.Bavail, s.Files, s.Ffree
	ss.Bsize, ss.Frsize, ss.Namelen = s.Bsize, s.Frsize, s.Namelen
	out.FromStatfsT(&ss)
	return 0
}

var _ = (gofs.NodeReadlinker)((*node)(nil))

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	rel, ok := n.rel()
	if !ok {
		return nil, syscall.ENOENT
	}
	dir, name := beneath.Split(rel)
	var target string
	err := n.fs.b.WithDir(dir, func(dirfd int) error {
		var err error
		target, err = readlinkat(dirfd, name)
		return err
	})
	if err != nil {
		return nil, n.fs.toErrno("readlink", rel, err)
	}
	return []byte(target), 0
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
