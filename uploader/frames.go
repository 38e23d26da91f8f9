package uploader

import (
	"bytes"
	"context"
	"sync"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// window is a run of whole blocks (the last may end at the end of file),
// at most one frame (1 MiB), inside one segment: the uploader reads it
// whole and rehashes its blocks. Its frames are the granules in it that
// ship; in format 1 that is the whole window.
type window struct {
	off, n int64
	frames []frameJob
}

// frameJob is a run of granules to ship: one frame.
type frameJob struct{ off, n int64 }

// objectJob is the windows whose frames go into one data object (≤ 8 MiB
// raw).
type objectJob struct {
	seq     uint64
	windows []window
}

// planFrames cuts the granules to ship into windows: the blocks around
// them, in runs that never cross a segment boundary or exceed a frame.
func planFrames(ship ranges.Set, size int64) []window {
	var out []window
	for _, r := range ship.Align(blockSize, size) {
		for off := r.Off; off < r.End(); {
			end := min(r.End(), off+format.MaxFrameRaw, (off/segmentSize+1)*segmentSize)
			w := window{off: off, n: end - off}
			for _, f := range ship.Intersect(off, end-off) {
				w.frames = append(w.frames, frameJob{f.Off, f.Len})
			}
			out = append(out, w)
			off = end
		}
	}
	return out
}

// packObjects groups windows, in file order, into objects of at most
// MaxObjectRaw raw bytes shipped: scattered small rewrites become few
// puts.
func packObjects(windows []window) []objectJob {
	var out []objectJob
	var cur objectJob
	var raw int64
	for _, w := range windows {
		var n int64
		for _, f := range w.frames {
			n += f.n
		}
		if raw+n > format.MaxObjectRaw && len(cur.windows) > 0 {
			out = append(out, cur)
			cur, raw = objectJob{}, 0
		}
		cur.windows = append(cur.windows, w)
		raw += n
	}
	if len(cur.windows) > 0 {
		out = append(out, cur)
	}
	return out
}

// windowResult is a window read: whether it was all zeros (a hole: its
// extents go), the hashes of its blocks, and its frames.
type windowResult struct {
	off, n int64
	hole   bool
	hashes [][format.HashSize]byte
	frames []frameResult
}

// frameResult is a shipped frame: its extent (offset filled in by the
// caller), or zero: its granules hold only zeros and need no extent.
type frameResult struct {
	off, n int64
	zero   bool
	ext    format.Extent
}

type objectResult struct {
	seq         uint64
	stored, raw int64
	windows     []windowResult
}

// withTouched returns w's frames with the pages of w added that were
// written since the claim or are being written now: the window's block
// hashes cover the bytes just read, so every page of it that does not
// hold what the remote holds must ship with them (journal.Touched). A
// window shipped whole needs no look.
func (u *Uploader) withTouched(id format.ID, w window) []frameJob {
	var ship ranges.Set
	for _, f := range w.frames {
		ship = ship.Add(f.off, f.n)
	}
	if ship.Contains(w.off, w.n) {
		return w.frames
	}
	t := u.j.Touched(journal.ID(id), w.off, w.n)
	if len(t) == 0 {
		return w.frames
	}
	u.stats.Touched.Add(1)
	ship = ship.Union(t.Align(u.granule, w.off+w.n))
	out := make([]frameJob, 0, len(ship))
	for _, r := range ship.Intersect(w.off, w.n) {
		out = append(out, frameJob{r.Off, r.Len})
	}
	return out
}

// bufs are the buffers of one object job: the object being built and the
// frame being read. The uploader keeps exactly Parallel of them and reuses
// them, so its memory is fixed, not what the garbage collector allows.
type bufs struct {
	object []byte
	frame  []byte
}

func newBufs() *bufs {
	return &bufs{object: make([]byte, 0, format.MaxObjectRaw+format.MaxObjectRaw/64), frame: make([]byte, format.MaxFrameRaw)}
}

// runJobs reads, compresses and puts the objects, several at once (the
// uploader-wide semaphore bounds memory), and returns their results in
// job order.
func (u *Uploader) runJobs(ctx context.Context, id format.ID, fd int, jobs []objectJob) ([]objectResult, error) {
	results := make([]objectResult, len(jobs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i, job := range jobs {
		var b *bufs
		select {
		case b = <-u.jobs:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if b != nil {
				u.jobs <- b
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { u.jobs <- b }()
			r, err := u.runObject(ctx, id, fd, job, b)
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
				return
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return results, firstErr
}

func (u *Uploader) runObject(ctx context.Context, id format.ID, fd int, job objectJob, b *bufs) (objectResult, error) {
	buf := b.object[:0]
	res := objectResult{seq: job.seq}
	for _, w := range job.windows {
		wr := windowResult{off: w.off, n: w.n}
		raw := b.frame[:w.n]
		if localfile.Hole(fd, w.off, w.n) {
			clear(raw)
			wr.hole = true
		} else {
			if err := localfile.ReadFull(fd, raw, w.off); err != nil {
				return res, err
			}
			u.stats.ReadBytes.Add(w.n)
			wr.hole = localfile.AllZero(raw)
		}
		if !wr.hole {
			w.frames = u.withTouched(id, w)
		}
		for b := int64(0); b < w.n; b += blockSize {
			blk := raw[b:min(b+blockSize, w.n)]
			if wr.hole {
				wr.hashes = append(wr.hashes, format.ZeroHash(len(blk)))
			} else {
				wr.hashes = append(wr.hashes, format.BlockHash(blk))
			}
		}
		for _, f := range w.frames {
			u.stats.UploadedBytes.Add(f.n)
			fr := frameResult{off: f.off, n: f.n, zero: wr.hole}
			data := raw[f.off-w.off : f.off-w.off+f.n]
			if !fr.zero && f.n < w.n {
				fr.zero = localfile.AllZero(data)
			}
			if !fr.zero {
				start := len(buf)
				var codec format.Codec
				buf, codec = u.comp.Encode(buf, data)
				fr.ext = format.Extent{Len: uint32(f.n), Seq: job.seq, FrameOff: uint64(start), FrameLen: uint32(len(buf) - start),
					RawLen: uint32(f.n), Codec: codec, CRC: format.CRC(data)}
				res.raw += f.n
			}
			wr.frames = append(wr.frames, fr)
		}
		res.windows = append(res.windows, wr)
	}
	if len(buf) > 0 {
		key := format.DataKey(id, job.seq)
		if err := u.store.Put(ctx, key, bytes.NewReader(buf), int64(len(buf)), remote.PutOptions{}); err != nil {
			return res, err
		}
		res.stored = int64(len(buf))
		u.stats.SentBytes.Add(res.stored)
		u.stats.Objects.Add(1)
	}
	b.object = buf[:0] // keep what it grew to
	return res, nil
}
