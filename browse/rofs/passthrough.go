package rofs

import (
	"context"
	"syscall"
	"time"

	"github.com/syncfs/syncfs/format"
)

// Passthrough: re-reads of cached files at the speed of local files.
//
// Every byte a FUSE daemon serves is copied through it, which costs
// several times what reading a local file costs. So when a reader reads
// a whole file through the daemon, the bytes it is served (checked on
// their way: frames' crc32c) are also written to an image of that
// version in the disk cache (cache.Image), put in place once complete.
// A later open of that version hands the image to the kernel (FUSE
// passthrough: needs root and a kernel with it), which then reads it
// like any local file, page cache and all.
//
// Rules, from how the kernel works and what users expect:
//   - The kernel keeps each inode in one I/O mode at a time
//     (fs/fuse/iomode.c): while a handle reads through the daemon, an
//     open cannot be passthrough, and while passthrough handles are open,
//     every open must be. So an open is passthrough only when no daemon
//     handle is open, and always when passthrough handles are (they then
//     share the image already given to the kernel, whatever its version:
//     each open still sees one whole version).
//   - A passthrough handle shows the version it was opened at until it
//     is closed: the kernel reads the image, not the daemon. So only
//     quiet files (mtime older than PassthroughQuiet) are handed over: a
//     file a job is still writing stays live.
//   - Images are immutable and appear only when complete; passthrough
//     reads are not checked again (they are the kernel's), so an image is
//     trusted like any local file. --passthrough=false turns it all off.

// minImage: smaller files are cheap enough through the daemon.
const minImage = 1 << 20

// ptHandle is a handle the kernel serves from the image; it only ever
// sees a READ if the kernel refused the backing file.
type ptHandle struct{ *handle }

// PassthroughFd gives the kernel the image; go-fuse asks for it when the
// inode has no backing file registered yet.
func (h *ptHandle) PassthroughFd() (int, bool) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ptFile == nil {
		return -1, false
	}
	return int(n.ptFile.Fd()), true
}

func (h *ptHandle) Release(ctx context.Context) syscall.Errno {
	h.n.released(true)
	return 0
}

// openPassthrough returns a passthrough handle for an open of version m,
// or nil for a daemon-served one.
func (n *node) openPassthrough(m *format.Manifest) *ptHandle {
	fs := n.fs
	if !fs.passthrough.Load() || m.Size < minImage {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.ptOpen > 0:
	case n.cachedOpen > 0 || time.Since(m.Mtime) < fs.opts.PassthroughQuiet:
		return nil
	default:
		f, ok := fs.tree.Cache().OpenImage(fs.tree.ImageKey(n.id, m.Version), m.Size)
		if !ok {
			return nil
		}
		n.ptFile = f
	}
	n.ptOpen++
	fs.ptOpens.Add(1)
	return &ptHandle{&handle{n: n}}
}

// startImageLocked starts building the image of version m from the
// reads of daemon handles, if passthrough could use it: a quiet file.
// n.mu is held.
func (n *node) startImageLocked(m *format.Manifest) {
	fs := n.fs
	if !fs.passthrough.Load() || m.Size < minImage || (n.img != nil && n.imgVer == m.Version) ||
		time.Since(m.Mtime) < fs.opts.PassthroughQuiet {
		return // an image of a file still being written would be stale soon
	}
	if n.img != nil {
		n.img.Abort()
	}
	n.img = fs.tree.Cache().NewImage(fs.tree.ImageKey(n.id, m.Version), m.Size)
	n.imgVer = m.Version
	if n.img != nil && n.file != nil && n.file.Manifest().Version == m.Version {
		// The image will hold these bytes: no frame entries for them.
		n.file = n.file.WithoutCachePuts()
	}
}

// addToImage queues bytes served from version ver to the image being
// built, if it is of that version. A view (a cached frame) is immutable
// and queued as is; go-fuse reuses other buffers, so they are copied.
func (n *node) addToImage(ver uint64, data []byte, off int64, immutable bool) {
	n.mu.Lock()
	img := n.img
	if img == nil || n.imgVer != ver {
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	if !immutable {
		data = append([]byte(nil), data...)
	}
	if img.WriteAt(data, off) {
		return
	}
	// Complete, or dropped (the disk fell behind): if dropped, the frames
	// go to the disk cache as entries again. Waiting for the image's
	// writer to finish must not hold up this READ.
	n.mu.Lock()
	mine := n.img == img
	if mine {
		n.img = nil
	}
	n.mu.Unlock()
	if !mine {
		return
	}
	go func() {
		if img.Wait() {
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.file != nil && n.file.Manifest().Version == ver {
			n.file = n.fs.tree.File(n.id, n.file.Manifest())
		}
	}()
}
