package browse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// frameRef is a frame as an extent describes it. Its first two fields
// are its identity (data objects are immutable and their sequence numbers
// never reused); the rest is what its bytes must satisfy.
type frameRef struct {
	seq    uint64 // data object
	off    uint64 // offset in the object
	stored uint32
	raw    uint32
	codec  format.Codec
	crc    uint32
}

// frameKey names a frame of an inode in the memory cache and the table
// of fetches in flight.
type frameKey struct {
	id format.ID
	frameRef
}

// flight is one fetch of a frame that other readers of it wait for.
type flight struct {
	done chan struct{}
	raw  []byte
	err  error
}

const (
	// maxRun bounds the bytes one ranged GET asks for (a run may end
	// with one frame past it).
	maxRun = 8 << 20
	// prefetchers bounds the prefetches running at once.
	prefetchers = 4
	// prefetchTimeout bounds a prefetch nobody waits for.
	prefetchTimeout = 2 * time.Minute
)

// frames returns the raw bytes of each frame of inode id in refs, from
// the memory cache, a fetch already in flight, the disk cache, or the
// store, in that order of preference.
//
// With put false, frames fetched from the store are not written to the
// disk cache (the caller keeps them another way: an image).
func (t *Tree) frames(ctx context.Context, id format.ID, refs []frameRef, put bool) (map[frameRef][]byte, error) {
	out := make(map[frameRef][]byte, len(refs))
	for {
		var mine []frameRef
		var mineFl []*flight
		type wait struct {
			r  frameRef
			fl *flight
		}
		var waits []wait
		t.mu.Lock()
		for _, r := range refs {
			if _, ok := out[r]; ok {
				continue
			}
			k := frameKey{id, r}
			if raw := t.cachedFrame(k); raw != nil {
				out[r] = raw
				continue
			}
			if fl := t.inflight[k]; fl != nil {
				waits = append(waits, wait{r, fl})
				continue
			}
			fl := &flight{done: make(chan struct{})}
			t.inflight[k] = fl
			mine = append(mine, r)
			mineFl = append(mineFl, fl)
		}
		t.mu.Unlock()

		if err := t.fetch(ctx, id, mine, mineFl, out, put); err != nil {
			return nil, err
		}
		retry := false
		for _, w := range waits {
			select {
			case <-w.fl.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if w.fl.err != nil {
				if isContextErr(w.fl.err) && ctx.Err() == nil {
					retry = true // its fetcher gave up, not us: fetch it ourselves
					continue
				}
				return nil, w.fl.err
			}
			out[w.r] = w.fl.raw
		}
		if !retry {
			return out, nil
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fetch gets the frames refs, for which this caller holds the flights
// fls, from the disk cache or the store, fills out, and completes every
// flight whatever happens.
func (t *Tree) fetch(ctx context.Context, id format.ID, refs []frameRef, fls []*flight, out map[frameRef][]byte, put bool) error {
	if len(refs) == 0 {
		return nil
	}
	results := make([][]byte, len(refs))
	errs := make([]error, len(refs))
	defer func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, r := range refs {
			k := frameKey{id, r}
			fl := fls[i]
			if results[i] != nil {
				fl.raw = results[i]
				t.mem.Put(k, results[i])
			} else if fl.err = errs[i]; fl.err == nil {
				fl.err = fmt.Errorf("frame %d+%d of data object %d not fetched", r.off, r.stored, r.seq)
			}
			delete(t.inflight, k)
			close(fl.done)
		}
	}()

	var missing []int
	for i, r := range refs {
		if raw, ok := t.opts.Cache.Get(t.cacheKey(id, r), int(r.raw), r.crc); ok {
			results[i] = raw
			continue
		}
		missing = append(missing, i)
	}
	runs := makeRuns(refs, missing)
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.fetchRun(ctx, id, refs, run, results, put); err != nil {
				for _, i := range run {
					errs[i] = err
				}
			}
		}()
	}
	wg.Wait()
	for i, r := range refs {
		if errs[i] != nil {
			return errs[i]
		}
		out[r] = results[i]
	}
	return nil
}

func (t *Tree) cacheKey(id format.ID, r frameRef) cache.Key {
	return cache.Key{NS: t.ns, ID: uint64(id), Seq: r.seq, Off: r.off}
}

// makeRuns groups the frames refs[i], i in idx, into runs that one ranged
// GET can fetch: frames of one object, each starting where the previous
// ends, at most about maxRun bytes.
func makeRuns(refs []frameRef, idx []int) [][]int {
	sort.Slice(idx, func(a, b int) bool {
		ra, rb := refs[idx[a]], refs[idx[b]]
		if ra.seq != rb.seq {
			return ra.seq < rb.seq
		}
		return ra.off < rb.off
	})
	var runs [][]int
	var cur []int
	var start, end uint64
	for _, i := range idx {
		r := refs[i]
		if len(cur) > 0 && r.seq == refs[cur[0]].seq && r.off == end && end-start < maxRun {
			cur = append(cur, i)
			end += uint64(r.stored)
			continue
		}
		if len(cur) > 0 {
			runs = append(runs, cur)
		}
		cur, start, end = []int{i}, r.off, r.off+uint64(r.stored)
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// fetchRun fetches one run with one ranged GET and decodes its frames
// into results. A frame that fails its checksum is fetched once more (a
// bit flipped in transit) before the run fails as corrupt.
func (t *Tree) fetchRun(ctx context.Context, id format.ID, refs []frameRef, run []int, results [][]byte, put bool) error {
	first, last := refs[run[0]], refs[run[len(run)-1]]
	start, length := first.off, last.off+uint64(last.stored)-first.off
	key := format.DataKey(id, first.seq)
	var decodeErr error
	for attempt := 0; attempt < 2; attempt++ {
		buf, err := t.getRange(ctx, key, int64(start), int64(length))
		if err != nil {
			return err
		}
		decodeErr = nil
		for _, i := range run {
			r := refs[i]
			stored := buf[r.off-start : r.off-start+uint64(r.stored)]
			raw, err := format.Decode(make([]byte, 0, r.raw), stored, r.codec, r.raw, r.crc)
			if err != nil {
				decodeErr = fmt.Errorf("%s: frame at %d: %w", key, r.off, err)
				break
			}
			results[i] = raw
		}
		if decodeErr == nil {
			for _, i := range run {
				if put {
					t.opts.Cache.Put(t.cacheKey(id, refs[i]), results[i], refs[i].crc)
				}
			}
			return nil
		}
	}
	for _, i := range run {
		results[i] = nil
	}
	t.warn.corrupt("%s: %v", t.store, decodeErr)
	return decodeErr
}

// getRange reads exactly n bytes of object key at off, in a GET slot. A
// missing object means the manifest that named it is stale; a short one
// is corrupt.
func (t *Tree) getRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := t.acquire(ctx); err != nil {
		return nil, err
	}
	defer t.release()
	rc, err := t.store.Get(ctx, key, off, n)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, stale(key)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if got, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			t.warn.corrupt("%s: %s holds %d bytes at %d, its manifest says %d", t.store, key, got, off, n)
			return nil, fmt.Errorf("%w: %s is shorter than its manifest says", ErrCorrupt, key)
		}
		return nil, err
	}
	return buf, nil
}

// cachedFrame returns the decoded frame k if it is in memory, else nil.
func (t *Tree) cachedFrame(k frameKey) []byte {
	raw, _ := t.mem.Get(k)
	return raw
}
