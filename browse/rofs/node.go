package rofs

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/format"
)

// node is one file, directory or symlink of the mount.
type node struct {
	gofs.Inode
	fs   *FS
	id   format.ID
	kind format.Kind

	mu       sync.Mutex
	m        *format.Manifest // as last read
	checked  time.Time        // when m was read
	file     *browse.File     // m as a File, for regular files
	cacheVer uint64           // the version the kernel's page cache holds; 0: none

	// I/O modes (passthrough.go), guarded by mu.
	cachedOpen int          // handles whose reads come to the daemon
	ptOpen     int          // handles the kernel serves from ptFile
	ptFile     *os.File     // the image passthrough handles read
	img        *cache.Image // the image being built from reads, if any
	imgVer     uint64       // the version img is of
}

// manifest returns n's manifest, read again if older than maxAge.
func (n *node) manifest(ctx context.Context, maxAge time.Duration) (*format.Manifest, error) {
	n.mu.Lock()
	m, at := n.m, n.checked
	n.mu.Unlock()
	if m != nil && time.Since(at) < maxAge {
		return m, nil
	}
	m, err := n.fs.tree.Stat(ctx, n.id)
	if err != nil {
		return nil, err
	}
	if m.Kind != n.kind {
		n.fs.logf("inode %v was a %v and is now a %v: refused", n.id, n.kind, m.Kind)
		return nil, syscall.EIO
	}
	return n.setManifest(m), nil
}

// setManifest records m as n's manifest, unless n already has a newer
// one (versions only grow), and returns the one n now has. A new version
// of a file drops the kernel's cached pages of the old one.
func (n *node) setManifest(m *format.Manifest) *format.Manifest {
	n.mu.Lock()
	old := n.m
	if old != nil && old.Version > m.Version {
		n.mu.Unlock()
		return old
	}
	n.m, n.checked = m, time.Now()
	if n.kind == format.KindFile && (n.file == nil || n.file.Manifest().Version != m.Version) {
		n.file = n.fs.tree.File(n.id, m)
	}
	changed := old != nil && old.Version != m.Version && n.kind == format.KindFile && n.cacheVer != 0
	if changed {
		n.cacheVer = m.Version
	}
	if n.img != nil && n.imgVer != m.Version {
		n.img.Abort() // built from reads of a version that is gone
		n.img = nil
	}
	n.mu.Unlock()
	if changed {
		n.fs.invalidations.Add(1)
		// Never synchronously: the kernel waits for pages locked by
		// reads this daemon may be serving right now.
		go n.NotifyContent(0, 0)
	}
	return m
}

// current returns the File reads of n use now.
func (n *node) current(ctx context.Context) (*browse.File, error) {
	if _, err := n.manifest(ctx, n.fs.opts.Refresh); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.file, nil
}

// child returns the node for entry e of directory n: the one the kernel
// already knows under that name if it is the same inode (so that its
// manifest and page cache state carry over), else a new one; and its
// manifest, refreshed if older than minAge.
func (n *node) child(ctx context.Context, e browse.Entry) (c *node, m *format.Manifest, known bool, err error) {
	if ch := n.GetChild(e.Name); ch != nil {
		if cn, ok := ch.Operations().(*node); ok && cn.id == e.ID && cn.kind == e.Kind {
			c, known = cn, true
		}
	}
	if c == nil {
		c = &node{fs: n.fs, id: e.ID, kind: e.Kind}
	}
	m, err = c.manifest(ctx, n.fs.minAge())
	if errors.Is(err, browse.ErrNotExist) {
		n.fs.tree.Warn("dentry %q in directory %v names inode %v, which has no manifest", e.Name, n.id, e.ID)
	}
	return c, m, known, err
}

func stableMode(k format.Kind) uint32 {
	switch k {
	case format.KindDir:
		return syscall.S_IFDIR
	case format.KindSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// fillAttr sets the attributes the kernel sees from a manifest.
func fillAttr(a *fuse.Attr, id format.ID, m *format.Manifest) {
	a.Ino = uint64(id)
	a.Mode = stableMode(m.Kind) | m.Mode&0o7777
	a.Size = uint64(m.Size)
	if m.Kind == format.KindSymlink {
		a.Size = uint64(len(m.Target))
	}
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = 1 << 20 // cp and friends size their buffers by it
	a.Nlink = 1
	if m.Kind == format.KindDir {
		a.Nlink = 2
	}
	a.Owner = fuse.Owner{Uid: m.UID, Gid: m.GID}
	a.SetTimes(&m.Mtime, &m.Mtime, &m.Mtime)
}

func (n *node) entryOut(c *node, m *format.Manifest, out *fuse.EntryOut) {
	fillAttr(&out.Attr, c.id, m)
	out.SetEntryTimeout(n.fs.opts.Refresh)
	out.SetAttrTimeout(n.fs.opts.Refresh)
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e, err := n.fs.tree.Lookup(ctx, n.id, name)
	if err != nil {
		if errors.Is(err, browse.ErrNotExist) {
			n.RmChild(name)
			return nil, syscall.ENOENT
		}
		return nil, n.fs.toErrno("lookup", name, err)
	}
	c, m, known, err := n.child(ctx, e)
	if err != nil {
		if errors.Is(err, browse.ErrNotExist) {
			return nil, syscall.ENOENT
		}
		return nil, n.fs.toErrno("lookup", name, err)
	}
	n.entryOut(c, m, out)
	if known {
		return c.EmbeddedInode(), 0
	}
	return n.NewInode(ctx, c, gofs.StableAttr{Mode: stableMode(e.Kind), Ino: uint64(e.ID)}), 0
}

func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	m, err := n.manifest(ctx, n.fs.minAge())
	if err != nil {
		return n.fs.toErrno("getattr", n.id, err)
	}
	fillAttr(&out.Attr, n.id, m)
	out.SetTimeout(n.fs.opts.Refresh)
	return 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	m, err := n.manifest(ctx, n.fs.opts.Refresh)
	if err != nil {
		return nil, n.fs.toErrno("readlink", n.id, err)
	}
	return []byte(m.Target), 0
}

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := n.fs.tree.ReadDir(ctx, n.id)
	if err != nil {
		return nil, n.fs.toErrno("readdir", n.id, err)
	}
	parent := uint64(n.id)
	if _, p := n.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	out := make([]fuse.DirEntry, 0, len(ents)+2)
	out = append(out, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: uint64(n.id)}, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent})
	for _, e := range ents {
		out = append(out, fuse.DirEntry{Name: e.Name, Mode: stableMode(e.Kind), Ino: uint64(e.ID)})
	}
	return gofs.NewListDirStream(out), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize = format.BlockSize
	out.Frsize = format.BlockSize
	out.NameLen = format.MaxNameLen
	return 0
}
