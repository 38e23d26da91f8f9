package rofs

import (
	"context"
	"errors"
	"io"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/browse"
)

// handle is an open file.
type handle struct {
	n  *node
	ra browse.Readahead
}

// Open re-reads the manifest unless it is younger than a second (so a
// file opened after the job committed shows the new version). A quiet
// file whose version has an image in the disk cache is handed to the
// kernel (passthrough.go); otherwise reads come to the daemon, and the
// kernel's cached pages are kept if they are of this version.
func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_TRUNC|unix.O_CREAT) != 0 {
		return nil, 0, syscall.EROFS
	}
	m, err := n.manifest(ctx, n.fs.minAge())
	if err != nil {
		return nil, 0, n.fs.toErrno("open", n.id, err)
	}
	n.fs.mu.Lock()
	n.fs.open[n]++
	n.fs.mu.Unlock()
	if h := n.openPassthrough(m); h != nil {
		return h, 0, 0
	}
	var fuseFlags uint32
	n.mu.Lock()
	n.cachedOpen++
	if n.cacheVer == m.Version {
		fuseFlags = fuse.FOPEN_KEEP_CACHE
	} else {
		n.cacheVer = m.Version // the kernel drops the old pages on this open
	}
	n.startImageLocked(m)
	n.mu.Unlock()
	return &handle{n: n}, fuseFlags, 0
}

// Read serves one READ from one version of the file: if that version is
// deleted under it, the whole READ is done again with the new one.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.n
	f, err := n.current(ctx)
	if err != nil {
		return nil, n.fs.toErrno("read", n.id, err)
	}
	if start, length := h.ra.Observe(off, len(dest), f.Size()); length > 0 {
		f.Prefetch(start, length)
	}
	var got int
	var view []byte
	used, err := n.fs.tree.Follow(ctx, f, func(f *browse.File) error {
		// A READ inside one frame (the common case: the kernel asks for
		// aligned MiBs of files written in one go) is answered with the
		// cached frame itself, saving a copy.
		v, err := f.View(ctx, off, len(dest))
		if v != nil || err != nil {
			view = v
			return err
		}
		got, err = f.ReadAt(ctx, dest, off)
		if err == io.EOF {
			return nil
		}
		return err
	})
	if used != f {
		n.setManifest(used.Manifest())
	}
	if errors.Is(err, browse.ErrNotExist) {
		return nil, syscall.ESTALE // deleted from the remote while open
	}
	if err != nil {
		return nil, n.fs.toErrno("read", n.id, err)
	}
	n.fs.reads.Add(1)
	data := dest[:got]
	if view != nil {
		data = view
	}
	n.fs.readBytes.Add(int64(len(data)))
	n.addToImage(used.Manifest().Version, data, off, view != nil)
	return fuse.ReadResultData(data), 0
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.n.Getattr(ctx, h, out)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return 0, syscall.EROFS
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.n.released(false)
	return 0
}

// released undoes an open's accounting.
func (n *node) released(passthrough bool) {
	fs := n.fs
	fs.mu.Lock()
	if fs.open[n]--; fs.open[n] <= 0 {
		delete(fs.open, n)
	}
	fs.mu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if passthrough {
		if n.ptOpen--; n.ptOpen == 0 && n.ptFile != nil {
			n.ptFile.Close() // the kernel keeps its own reference while it needs one
			n.ptFile = nil
		}
		return
	}
	if n.cachedOpen--; n.cachedOpen == 0 && n.img != nil {
		if !n.img.Done() {
			n.img.Abort() // nobody is reading it to the end now
			if n.file != nil {
				n.file = n.fs.tree.File(n.id, n.file.Manifest()) // entries again
			}
		}
		n.img = nil
	}
}
