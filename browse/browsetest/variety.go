package browsetest

import (
	"math/rand/v2"

	"github.com/syncfs/syncfs/format"
)

// Pattern returns n bytes that compress somewhat (so frames use zstd)
// and that differ from the bytes of other seeds.
func Pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; {
		run := r.IntN(64) + 1
		c := byte(r.IntN(256))
		if r.IntN(3) == 0 {
			for j := 0; j < run && i < n; j++ {
				b[i] = byte(r.Uint32())
				i++
			}
			continue
		}
		for j := 0; j < run && i < n; j++ {
			b[i] = c
			i++
		}
	}
	return b
}

// WriteVariety writes files that cover the layouts a reader meets and
// returns their paths: written in one go, rewritten in place many times
// (split extents, partly dead objects), sparse with a whole segment of
// hole, spanning a segment boundary, empty, short, in subdirectories.
// With big false it leaves out the files of more than a few MiB.
func (w *Writer) WriteVariety(big bool) []string {
	const blk = format.BlockSize
	w.WriteFile("empty", nil, 0o644)
	w.WriteFile("short.txt", []byte("hello, world\n"), 0o644)
	w.WriteFile("oneblock", Pattern(1, blk), 0o600)
	w.WriteFile("dir/sub/frames", Pattern(2, 3*format.MaxFrameRaw+12345), 0o644)
	w.WriteFile("zeros-and-data", append(append(Pattern(3, 2*blk), make([]byte, 5*blk)...), Pattern(4, blk+7)...), 0o644)

	// Small frames and objects, so that rewrites split extents and leave
	// partly dead objects behind.
	fb, or := w.FrameBlocks, w.ObjectRaw
	w.FrameBlocks, w.ObjectRaw = 4, 6*blk
	w.WriteFile("rewritten.odb", Pattern(5, 40*blk+999), 0o644)
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 60; i++ {
		off := r.Int64N(45 * blk)
		n := r.IntN(3*blk) + 1
		w.Patch("rewritten.odb", off, Pattern(uint64(100+i), n))
	}
	w.Truncate("rewritten.odb", 38*blk+5)
	w.FrameBlocks, w.ObjectRaw = fb, or
	paths := []string{"empty", "short.txt", "oneblock", "dir/sub/frames", "zeros-and-data", "rewritten.odb"}
	if !big {
		return paths
	}

	// Sparse: segment 1 is all hole; data in segments 0 and 2.
	w.WriteFile("sparse", nil, 0o644)
	w.Truncate("sparse", 3*format.SegmentSize+100)
	w.Patch("sparse", 2*format.SegmentSize+blk/2, Pattern(6, 2*blk))
	w.Patch("sparse", 10, []byte("head"))

	// Across a segment boundary.
	w.WriteFile("twoseg", nil, 0o644)
	w.Patch("twoseg", format.SegmentSize-3*blk-17, Pattern(8, 7*blk))
	return append(paths, "sparse", "twoseg")
}
