package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirHandle is an open directory. It reads the backing directory and
// replaces each entry's backing inode number with the one the mount
// reports for it in stat (its journal ID), so d_ino and st_ino agree.
type dirHandle struct {
	gofs.DirStream
	n   *node
	fdv int // owned by DirStream; valid until release
}

func (d *dirHandle) fd() int { return d.fdv }

var (
	_ = (gofs.FileReaddirenter)((*dirHandle)(nil))
	_ = (gofs.FileSeekdirer)((*dirHandle)(nil))
	_ = (gofs.FileReleasedirer)((*dirHandle)(nil))
	_ = (gofs.FileFsyncdirer)((*dirHandle)(nil))
)

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	r, ok := d.DirStream.(gofs.FileReaddirenter)
	if !ok {
		return nil, syscall.ENOTSUP
	}
	de, errno := r.Readdirent(ctx)
	if de == nil || errno != 0 {
		return de, errno
	}
	de.Ino |= unjournaledIno
	if parent := d.n.jid(); parent != 0 && de.Name != "." && de.Name != ".." {
		if id, _, ok := d.n.fs.j.Lookup(parent, de.Name); ok {
			de.Ino = uint64(id)
		}
	}
	return de, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.DirStream.(gofs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := d.DirStream.(gofs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
		return
	}
	d.DirStream.Close()
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if f, ok := d.DirStream.(gofs.FileFsyncdirer); ok {
		if errno := f.Fsyncdir(ctx, flags); errno != 0 {
			return errno
		}
	}
	// The backing directory's fsync above makes its entries durable, which
	// is what fsync of a directory promises (SQLite does one per
	// transaction, after creating its -journal). The journal's record of
	// them needs no commit of its own: a namespace op lost from the
	// journal by a crash is found in the backing dir by the start-up scan
	// (journal/async.go), so a commit here would only cost the writer one
	// more fdatasync pair. A journal that cannot commit still fails it.
	return d.n.fs.toErrno("fsyncdir", "", journalErr(d.n.fs.j.Err()))
}
