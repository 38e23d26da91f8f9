package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/syncfs/syncfs/internal/ranges"
)

// Images: a complete copy of one version of a file, which the read-only
// mount hands to the kernel (FUSE passthrough) so that re-reads of a
// cached file cost what reading a local file costs. An image is built
// while a reader reads the file through the daemon, from bytes that were
// checked (frames' crc32c) on their way; it appears under its name only
// once every byte is there (temporary file, renamed), and is never
// modified after. Reads through passthrough are the kernel's, so they
// are not checked again: an image is trusted like any local file, and
// the frame entries (checked on every read) remain for everything else.

// ImageKey names the image of version Version of inode ID of tree NS.
type ImageKey struct {
	NS      string
	ID      uint64
	Version uint64
}

func (k ImageKey) path(root string) (string, bool) {
	fk := Key{NS: k.NS, ID: k.ID}
	p, ok := fk.path(root)
	if !ok {
		return "", false
	}
	return filepath.Join(filepath.Dir(p), fmt.Sprintf("v%016x", k.Version)), true
}

// OpenImage opens the image k of a file of size bytes, if the cache has
// it.
func (c *Cache) OpenImage(k ImageKey, size int64) (*os.File, bool) {
	if c == nil {
		return nil, false
	}
	p, ok := k.path(c.root)
	if !ok {
		return nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != size {
		f.Close()
		return nil, false
	}
	c.touch(p, st)
	c.imageHits.Add(1)
	return f, true
}

// maxImagePieces bounds the disjoint ranges an image being built may
// have: a sequential reader (the kernel sends its READs a little out of
// order) has a few; more means a random reader, and the image is dropped.
const maxImagePieces = 64

// Image is an image being built. Its writes are queued to a goroutine of
// its own, so that serving a READ never waits for one.
type Image struct {
	c     *Cache
	final string
	size  int64

	q      chan imageWrite
	queued atomic.Int64 // bytes waiting in q
	done   chan struct{}

	mu     sync.Mutex
	closed bool     // no more writes accepted
	f      *os.File // nil once committed or aborted
	have   ranges.Set
	ok     bool // put in place
}

type imageWrite struct {
	p   []byte
	off int64
}

// imageQueue bounds the bytes waiting to be written to one image; a
// reader faster than the disk makes the image be dropped rather than be
// slowed down.
const imageQueue = 128 << 20

// NewImage starts the image k of a file of size bytes, or returns nil
// when there is no cache, the image exists, or the file is too large for
// the cache to hold twice.
func (c *Cache) NewImage(k ImageKey, size int64) *Image {
	if c == nil || size <= 0 || size > c.limit/2 {
		return nil
	}
	p, ok := k.path(c.root)
	if !ok {
		return nil
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil
	}
	f, err := os.CreateTemp(dir, ".tmp-img-*")
	if err != nil {
		return nil
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	im := &Image{c: c, final: p, size: size, f: f, q: make(chan imageWrite, 256), done: make(chan struct{})}
	c.closeMu.RLock() // Close waits for this, then finds im in building
	defer c.closeMu.RUnlock()
	if c.closed {
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	c.imagesMu.Lock()
	c.building[im] = true
	c.imagesMu.Unlock()
	go im.writer()
	return im
}

// WriteAt queues p, the file's bytes at off, to be written; once every
// byte of the file is there the image is put in place. p must not be
// modified afterwards. A failed write, or a full queue, drops the image.
// It reports false once the image takes no more writes (dropped, or
// complete).
func (im *Image) WriteAt(p []byte, off int64) bool {
	if im == nil {
		return false
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return false
	}
	if len(p) == 0 || off < 0 || off+int64(len(p)) > im.size {
		return true
	}
	if im.queued.Load()+int64(len(p)) > imageQueue {
		im.closeLocked()
		return false
	}
	select {
	case im.q <- imageWrite{p, off}:
		im.queued.Add(int64(len(p)))
		return true
	default:
		im.closeLocked()
		return false
	}
}

// closeLocked stops accepting writes; the writer then finishes (or
// drops) the image.
func (im *Image) closeLocked() {
	if !im.closed {
		im.closed = true
		close(im.q)
	}
}

// writer writes what is queued and puts the image in place once it is
// complete, or drops it if the queue closes first.
func (im *Image) writer() {
	defer func() {
		im.c.imagesMu.Lock()
		delete(im.c.building, im)
		im.c.imagesMu.Unlock()
		close(im.done)
	}()
	for w := range im.q {
		im.queued.Add(-int64(len(w.p)))
		im.mu.Lock()
		if im.f == nil {
			im.mu.Unlock()
			continue
		}
		im.mu.Unlock()
		if _, err := im.f.WriteAt(w.p, w.off); err != nil {
			im.mu.Lock()
			im.abortLocked()
			im.closeLocked()
			im.mu.Unlock()
			continue
		}
		im.mu.Lock()
		im.have = im.have.Add(w.off, int64(len(w.p)))
		switch {
		case len(im.have) > maxImagePieces:
			im.abortLocked() // a random reader: it will not read it all
			im.closeLocked()
		case im.have.Contains(0, im.size):
			im.commitLocked()
			im.closeLocked()
		}
		im.mu.Unlock()
	}
	im.mu.Lock()
	im.abortLocked() // closed before it was complete
	im.mu.Unlock()
}

func (im *Image) commitLocked() {
	name := im.f.Name()
	err := im.f.Close()
	im.f = nil
	if err == nil {
		err = os.Rename(name, im.final)
	}
	if err != nil {
		os.Remove(name)
		return
	}
	im.ok = true
	im.c.images.Add(1)
	if im.c.used.Add(im.size) > im.c.limit {
		im.c.evict()
	}
}

// Abort drops an unfinished image (a complete one stays).
func (im *Image) Abort() {
	if im == nil {
		return
	}
	im.mu.Lock()
	im.closeLocked()
	im.mu.Unlock()
}

func (im *Image) abortLocked() {
	if im.f != nil {
		im.f.Close()
		os.Remove(im.f.Name())
		im.f = nil
	}
}

// Done reports whether the image was put in place.
func (im *Image) Done() bool {
	if im == nil {
		return false
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.ok
}

// Wait waits until the image is put in place or dropped, and reports
// which.
func (im *Image) Wait() bool {
	if im == nil {
		return false
	}
	<-im.done
	return im.Done()
}
