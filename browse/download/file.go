package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
)

// chunkBlocks is the blocks one worker checks and fetches at once (8 MiB).
const chunkBlocks = 128

const bs = int64(format.BlockSize)

// chunk is part of a segment, with the hashes its blocks must have.
type chunk struct {
	off    int64
	hashes [][format.HashSize]byte
}

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkBlocks*bs); return &b }}

// file copies the file it, following newer versions if the one it
// started with is superseded, and returns the bytes it fetched.
func (g *getter) file(ctx context.Context, root int, it *item) (int64, error) {
	dirfd, name, err := parentDir(root, it.parts)
	if err != nil {
		return 0, err
	}
	defer unix.Close(dirfd)
	var fetched int64
	_, err = g.tree.Follow(ctx, g.tree.File(it.e.ID, it.m), func(f *browse.File) error {
		n, err := g.copyFile(ctx, dirfd, name, f)
		fetched += n
		return err
	})
	return fetched, err
}

// plan returns f's chunks, checking the segment manifests against the
// inode manifest's digests on the way.
func plan(ctx context.Context, f *browse.File) ([]chunk, error) {
	m := f.Manifest()
	var chunks []chunk
	var digests []byte
	for s := range m.Segments {
		seg, err := f.Segment(ctx, s)
		if err != nil {
			return nil, err
		}
		d := seg.Digest()
		if d != m.Segments[s].Digest {
			return nil, fmt.Errorf("%w: the block hashes of segment %d do not match the manifest's digest", browse.ErrCorrupt, s)
		}
		digests = append(digests, d[:]...)
		for b := 0; b < len(seg.Hashes); b += chunkBlocks {
			chunks = append(chunks, chunk{off: int64(s)*format.SegmentSize + int64(b)*bs, hashes: seg.Hashes[b:min(b+chunkBlocks, len(seg.Hashes))]})
		}
	}
	check := format.Manifest{Segments: m.Segments}
	check.SetDigest()
	if check.Digest != m.Digest {
		return nil, fmt.Errorf("%w: the segment digests do not match the file digest", browse.ErrCorrupt)
	}
	return chunks, nil
}

// copyFile makes name hold version f: unchanged if it already does,
// else through the partial file, resumed from whatever matches.
func (g *getter) copyFile(ctx context.Context, dirfd int, name string, f *browse.File) (int64, error) {
	m := f.Manifest()
	chunks, err := plan(ctx, f)
	if err != nil {
		return 0, err
	}
	part := tempName("part", name)
	// The file already there, if whole and right, stays as it is.
	if fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		var st unix.Stat_t
		ok := unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == m.Size
		if ok {
			need, err := g.run(ctx, chunks, func(ctx context.Context, c chunk) (int64, error) {
				return g.chunk(ctx, fd, f, c, false, true)
			})
			ok = err == nil && need == 0
		}
		unix.Close(fd)
		if ok {
			g.progress(m.Size)
			g.kept.Add(m.Size)
			return 0, g.fileAttrs(dirfd, name, m)
		}
	}

	fresh := false
	fd, err := unix.Openat(dirfd, part, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// No partial copy: start from the file there, if it is a regular
		// one (its matching blocks are kept), else from nothing.
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			if err := unix.Renameat(dirfd, name, dirfd, part); err != nil {
				return 0, err
			}
			fd, err = unix.Openat(dirfd, part, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		} else {
			fd, err = unix.Openat(dirfd, part, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			fresh = true
		}
		if err != nil {
			return 0, err
		}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, errors.New("the partial copy is not a regular file")
	}
	if err := unix.Ftruncate(fd, m.Size); err != nil {
		return 0, err
	}
	fetched, err := g.run(ctx, chunks, func(ctx context.Context, c chunk) (int64, error) {
		return g.chunk(ctx, fd, f, c, fresh, false)
	})
	if err != nil {
		return fetched, err
	}
	if err := g.fileAttrs(dirfd, part, m); err != nil {
		return fetched, err
	}
	return fetched, unix.Renameat(dirfd, part, dirfd, name)
}

func (g *getter) fileAttrs(dirfd int, name string, m *format.Manifest) error {
	if g.chown {
		if err := unix.Fchownat(dirfd, name, int(m.UID), int(m.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	if err := unix.Fchmodat(dirfd, name, safeMode(m.Mode), 0); err != nil {
		return err
	}
	return setMtime(dirfd, name, m.Mtime)
}

func (g *getter) progress(n int64) {
	if g.opts.Progress != nil && n > 0 {
		g.opts.Progress.Bytes(n)
	}
}

// run runs fn on every chunk, up to Parallel at once across the whole
// Get, and sums what they return; the first error stops the rest.
func (g *getter) run(ctx context.Context, chunks []chunk, fn func(context.Context, chunk) (int64, error)) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var first error
	for _, c := range chunks {
		acquired := false
		select {
		case g.slots <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-g.slots
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-g.slots }()
			n, err := fn(ctx, c)
			mu.Lock()
			total += n
			if err != nil && first == nil {
				first = err
				cancel()
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total, first
}

// chunk brings one chunk of fd in line with f: blocks whose hash already
// matches are kept (on a fresh, all-hole file, blocks of zeros are), the
// others are fetched, checked against their hashes and written. It
// returns the bytes fetched; with dry, it writes nothing and returns the
// bytes that would be.
func (g *getter) chunk(ctx context.Context, fd int, f *browse.File, c chunk, fresh, dry bool) (int64, error) {
	size := f.Size()
	n := min(int64(len(c.hashes))*bs, size-c.off)
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := (*bp)[:n]
	blockLen := func(i int) int64 { return min(bs, n-int64(i)*bs) }
	need := make([]bool, len(c.hashes))
	if fresh {
		for i, h := range c.hashes {
			need[i] = h != format.ZeroHash(int(blockLen(i)))
		}
	} else {
		if err := preadFull(fd, buf, c.off); err != nil {
			return 0, err
		}
		for i, h := range c.hashes {
			lo := int64(i) * bs
			need[i] = format.BlockHash(buf[lo:lo+blockLen(i)]) != h
		}
	}
	var fetched int64
	for i := 0; i < len(need); {
		if !need[i] {
			if !dry {
				g.progress(blockLen(i))
				if !fresh {
					g.kept.Add(blockLen(i))
				}
			}
			i++
			continue
		}
		j := i
		for j < len(need) && need[j] {
			j++
		}
		lo, hi := int64(i)*bs, min(int64(j)*bs, n)
		fetched += hi - lo
		if !dry {
			if err := g.fetchRange(ctx, fd, f, c, buf, lo, hi); err != nil {
				return fetched, err
			}
			g.progress(hi - lo)
		}
		i = j
	}
	if !dry {
		g.fetched.Add(fetched)
	}
	return fetched, nil
}

// fetchRange reads [lo, hi) of the chunk from the store, checks each
// block against its hash, and writes it.
func (g *getter) fetchRange(ctx context.Context, fd int, f *browse.File, c chunk, buf []byte, lo, hi int64) error {
	b := buf[lo:hi]
	if _, err := f.ReadAt(ctx, b, c.off+lo); err != nil && err != io.EOF {
		return err
	}
	for k := lo; k < hi; k += bs {
		if format.BlockHash(buf[k:min(k+bs, hi)]) != c.hashes[k/bs] {
			return fmt.Errorf("%w: block at %d does not match its hash in the segment manifest", browse.ErrCorrupt, c.off+k)
		}
	}
	_, err := unix.Pwrite(fd, b, c.off+lo)
	return err
}

// preadFull reads len(b) bytes at off; bytes past the end of the file
// read as zeros.
func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			clear(b)
			return nil
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
