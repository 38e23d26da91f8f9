package publish

import (
	"io"
	"os"

	"github.com/syncfs/syncfs/remote"
)

// A republish knows, per block (BlockSize bytes, from the records), which
// bytes of the file are unchanged since the previous object. It copies
// those inside the store and sends the rest. A copied part may be any
// range of the previous object, so parts need not follow blocks; but on
// S3 every part but the last must be at least 5 MiB and at most 5 GiB, and
// there may be at most 10,000. So: runs of unchanged blocks of at least
// the minimum become copied parts; shorter ones are sent with the changed
// bytes around them; a sent part too short takes bytes from a neighbour.
// A scattered change thus costs at least one minimum part per run of
// changes closer together than the minimum: on S3 that, not the block
// size, bounds what a republish sends.

const (
	// maxPart is the largest part S3 takes.
	maxPart = 5 << 30
	// sendChunk bounds a part of new bytes, so that parts go in parallel
	// and a retried part costs little.
	sendChunk = 64 << 20
	// maxBlocks bounds the hashes kept per file (32 bytes each).
	maxBlocks = 1 << 16
)

// BlockSize is the hashing unit of a file of size bytes: base, or more
// (a multiple of 64 KiB) for a file that would need more than 65,536
// blocks.
func BlockSize(size, base int64) int64 {
	bs := base
	if need := (size + maxBlocks - 1) / maxBlocks; need > bs {
		bs = (need + 64<<10 - 1) &^ (64<<10 - 1)
	}
	return bs
}

// seg is a run of the new file: copied from the old object, or sent.
type seg struct {
	off, n int64
	copy   bool
}

// segments lays out parts for a file of size bytes whose block i is
// unchanged when same(i), under a minimum part size (0: none).
func segments(size, bs int64, same func(i int) bool, minPart int64) []seg {
	var ss []seg
	for off, i := int64(0), 0; off < size; off, i = off+bs, i+1 {
		n := min(bs, size-off)
		c := same(i)
		if k := len(ss) - 1; k >= 0 && ss[k].copy == c {
			ss[k].n += n
		} else {
			ss = append(ss, seg{off, n, c})
		}
	}
	if minPart > 0 {
		ss = enforceMin(ss, minPart)
	}
	return ss
}

// enforceMin makes every segment but the last at least min bytes: short
// copies are sent instead, and a short run of sent bytes takes bytes from
// the copy after it (or before it), or swallows it.
func enforceMin(ss []seg, min int64) []seg {
	last := func(i int) bool { return i == len(ss)-1 }
	// Short copies (but a last one) are sent.
	for i := range ss {
		if ss[i].copy && ss[i].n < min && !last(i) {
			ss[i].copy = false
		}
	}
	ss = merge(ss)
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(ss); i++ {
			if ss[i].copy || ss[i].n >= min || last(i) {
				continue
			}
			need := min - ss[i].n
			switch {
			case i+1 < len(ss) && (ss[i+1].n-need >= min || (last(i+1) && ss[i+1].n > need)):
				ss[i].n += need
				ss[i+1].off += need
				ss[i+1].n -= need
			case i > 0 && ss[i-1].n-need >= min:
				ss[i-1].n -= need
				ss[i].off -= need
				ss[i].n += need
			case i+1 < len(ss):
				ss[i+1].copy = false // swallowed
			default:
				ss[i-1].copy = false
			}
			ss = merge(ss)
			changed = true
			break
		}
	}
	return ss
}

func merge(ss []seg) []seg {
	out := ss[:0]
	for _, s := range ss {
		if k := len(out) - 1; k >= 0 && out[k].copy == s.copy {
			out[k].n += s.n
			continue
		}
		out = append(out, s)
	}
	return out
}

// split cuts segments into parts of at most maxPart bytes (copies) or
// sendChunk bytes (sent), each but the last of a segment at least min.
func split(ss []seg, min int64) []seg {
	var out []seg
	for _, s := range ss {
		limit := int64(maxPart)
		if !s.copy {
			limit = sendChunk
		}
		for s.n > limit {
			n := limit
			if s.n-n < min {
				n = s.n - min // leave a remainder of at least min
			}
			out = append(out, seg{s.off, n, s.copy})
			s.off, s.n = s.off+n, s.n-n
		}
		out = append(out, s)
	}
	return out
}

// toParts turns segments into Compose parts: copies of src (with its
// ETag), or sections of f.
func toParts(ss []seg, f *os.File, src, etag string) []remote.Part {
	parts := make([]remote.Part, 0, len(ss))
	for _, s := range ss {
		if s.copy {
			parts = append(parts, remote.Part{Size: s.n, From: src, FromOff: s.off, FromETag: etag})
		} else {
			parts = append(parts, remote.Part{Size: s.n, Body: io.NewSectionReader(f, s.off, s.n)})
		}
	}
	return parts
}
