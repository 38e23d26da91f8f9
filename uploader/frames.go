package uploader

import (
	"bytes"
	"context"
	"sync"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/remote"
)

// frameJob is a run of whole blocks, at most one frame (1 MiB), inside
// one segment.
type frameJob struct{ off, n int64 }

// objectJob is the frames that go into one data object (≤ 8 MiB raw).
type objectJob struct {
	seq    uint64
	frames []frameJob
}

// planFrames cuts block-aligned ranges into frames that never cross a
// segment boundary.
func planFrames(aligned ranges.Set) []frameJob {
	var out []frameJob
	for _, r := range aligned {
		for off := r.Off; off < r.End(); {
			end := min(r.End(), off+format.MaxFrameRaw, (off/segmentSize+1)*segmentSize)
			out = append(out, frameJob{off, end - off})
			off = end
		}
	}
	return out
}

// packObjects groups frames, in file order, into objects of at most
// MaxObjectRaw raw bytes: scattered small rewrites become few puts.
func packObjects(frames []frameJob) []objectJob {
	var out []objectJob
	var cur objectJob
	var raw int64
	for _, f := range frames {
		if raw+f.n > format.MaxObjectRaw && len(cur.frames) > 0 {
			out = append(out, cur)
			cur, raw = objectJob{}, 0
		}
		cur.frames = append(cur.frames, f)
		raw += f.n
	}
	if len(cur.frames) > 0 {
		out = append(out, cur)
	}
	return out
}

// frameResult is a shipped frame: its extent (offset filled in by the
// caller) or a hole, and the hashes of its blocks.
type frameResult struct {
	off, n int64
	hole   bool
	ext    format.Extent
	hashes [][format.HashSize]byte
}

type objectResult struct {
	seq         uint64
	stored, raw int64
	frames      []frameResult
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
	for _, f := range job.frames {
		fr := frameResult{off: f.off, n: f.n}
		raw := b.frame[:f.n]
		if localfile.Hole(fd, f.off, f.n) {
			clear(raw)
			fr.hole = true
		} else {
			if err := localfile.ReadFull(fd, raw, f.off); err != nil {
				return res, err
			}
			u.stats.ReadBytes.Add(f.n)
			fr.hole = localfile.AllZero(raw)
		}
		for b := int64(0); b < f.n; b += blockSize {
			blk := raw[b:min(b+blockSize, f.n)]
			if fr.hole {
				fr.hashes = append(fr.hashes, format.ZeroHash(len(blk)))
			} else {
				fr.hashes = append(fr.hashes, format.BlockHash(blk))
			}
		}
		u.stats.UploadedBytes.Add(f.n)
		if !fr.hole {
			start := len(buf)
			var codec format.Codec
			buf, codec = u.comp.Encode(buf, raw)
			fr.ext = format.Extent{Len: uint32(f.n), Seq: job.seq, FrameOff: uint64(start), FrameLen: uint32(len(buf) - start),
				RawLen: uint32(f.n), Codec: codec, CRC: format.CRC(raw)}
			res.raw += f.n
		}
		res.frames = append(res.frames, fr)
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
