package format

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Codec says how a frame's raw bytes are stored.
type Codec uint8

const (
	CodecRaw         Codec = 0 // stored as is: data that does not compress
	CodecZstd        Codec = 1 // one zstd frame
	CodecShuffleZstd Codec = 2 // byte-shuffled (element size 4), then one zstd frame
)

func (c Codec) valid() bool { return c <= CodecShuffleZstd }

func (c Codec) String() string {
	switch c {
	case CodecRaw:
		return "raw"
	case CodecZstd:
		return "zstd"
	case CodecShuffleZstd:
		return "shuffle4+zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// Compressor encodes frames with pooled zstd encoders of one level.
type Compressor struct {
	level zstd.EncoderLevel
	pool  sync.Pool // *zstd.Encoder
}

// NewCompressor returns a compressor; level is a zstd level name
// ("fastest", "default", "better", "best"); "" means fastest.
func NewCompressor(level string) (*Compressor, error) {
	l := zstd.SpeedFastest
	if level != "" {
		ok := false
		if ok, l = zstd.EncoderLevelFromString(level); !ok {
			return nil, fmt.Errorf("unknown zstd level %q (use fastest, default, better or best)", level)
		}
	}
	return &Compressor{level: l}, nil
}

func (c *Compressor) encoder() *zstd.Encoder {
	if e, ok := c.pool.Get().(*zstd.Encoder); ok {
		return e
	}
	// Frames are at most 1 MiB: a window as large is all they can use,
	// and it bounds the encoder's memory.
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(c.level), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true),
		zstd.WithWindowSize(MaxFrameRaw), zstd.WithLowerEncoderMem(true))
	return e
}

// sampleSize is how much of a frame is compressed to choose its codec.
const sampleSize = 64 << 10

// minSaving: a codec must save this fraction of the sample to be used.
const minSaving = 0.03

// Encode appends the stored form of raw to dst and returns it with the
// codec chosen: whichever of zstd and shuffle4+zstd does best on a sample,
// raw if neither saves 3% there or if the whole frame does not shrink.
func (c *Compressor) Encode(dst, raw []byte) ([]byte, Codec) {
	e := c.encoder()
	defer c.pool.Put(e)
	sample := raw
	if len(sample) > sampleSize {
		sample = raw[:sampleSize]
	}
	sp := scratchBufs.Get().(*[]byte)
	defer scratchBufs.Put(sp)
	var scratch [2 * sampleSize]byte
	plain := len(e.EncodeAll(sample, scratch[:0]))
	sh := shuffle4((*sp)[:0], sample)
	shuffled := len(e.EncodeAll(sh, scratch[:0]))
	best, codec := plain, CodecZstd
	if shuffled < plain {
		best, codec = shuffled, CodecShuffleZstd
	}
	if float64(best) > float64(len(sample))*(1-minSaving) {
		return append(dst, raw...), CodecRaw
	}
	in := raw
	if codec == CodecShuffleZstd {
		in = shuffle4((*sp)[:0], raw)
		*sp = in[:0]
	}
	start := len(dst)
	dst = e.EncodeAll(in, dst)
	if len(dst)-start >= len(raw) {
		return append(dst[:start], raw...), CodecRaw
	}
	return dst, codec
}

// scratchBufs hold shuffled frames, so that shuffling allocates nothing.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxFrameRaw); return &b }}

var decoders = sync.Pool{New: func() any {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(2*MaxFrameRaw), zstd.WithDecoderMaxWindow(8<<20))
	return d
}}

// Decode returns the raw bytes of a stored frame, appended to dst, and
// checks their length and crc32c. It never produces more than rawLen
// (≤ MaxFrameRaw) bytes, whatever the stored bytes claim.
func Decode(dst, stored []byte, codec Codec, rawLen uint32, crc uint32) ([]byte, error) {
	if rawLen > MaxFrameRaw {
		return nil, corrupt("frame of %d raw bytes", rawLen)
	}
	start := len(dst)
	switch codec {
	case CodecRaw:
		dst = append(dst, stored...)
	case CodecZstd, CodecShuffleZstd:
		d := decoders.Get().(*zstd.Decoder)
		if cap(dst)-len(dst) < int(rawLen) {
			dst = append(make([]byte, 0, len(dst)+int(rawLen)), dst...)
		}
		out, err := d.DecodeAll(stored, dst)
		decoders.Put(d)
		if err != nil {
			return nil, corrupt("frame: %v", err)
		}
		dst = out
	default:
		return nil, corrupt("frame: unknown codec %d", codec)
	}
	raw := dst[start:]
	if len(raw) != int(rawLen) {
		return nil, corrupt("frame: %d raw bytes, manifest says %d", len(raw), rawLen)
	}
	if codec == CodecShuffleZstd {
		sp := scratchBufs.Get().(*[]byte)
		un := unshuffle4((*sp)[:0], raw)
		copy(raw, un)
		*sp = un[:0]
		scratchBufs.Put(sp)
	}
	if CRC(raw) != crc {
		return nil, corrupt("frame: checksum mismatch")
	}
	return dst, nil
}

// shuffle4 appends src with its bytes grouped by position in 4-byte
// elements (all first bytes, then all second bytes, ...), the Blosc/HDF5
// shuffle: the exponents and high mantissa bytes of smooth float32 fields
// then sit together and compress.
func shuffle4(dst, src []byte) []byte {
	m := len(src) / 4
	start := len(dst)
	dst = append(dst, make([]byte, len(src))...)
	out := dst[start:]
	for i := 0; i < m; i++ {
		out[i] = src[4*i]
		out[m+i] = src[4*i+1]
		out[2*m+i] = src[4*i+2]
		out[3*m+i] = src[4*i+3]
	}
	copy(out[4*m:], src[4*m:])
	return dst
}

func unshuffle4(dst, src []byte) []byte {
	m := len(src) / 4
	start := len(dst)
	dst = append(dst, make([]byte, len(src))...)
	out := dst[start:]
	for i := 0; i < m; i++ {
		out[4*i] = src[i]
		out[4*i+1] = src[m+i]
		out[4*i+2] = src[2*m+i]
		out[4*i+3] = src[3*m+i]
	}
	copy(out[4*m:], src[4*m:])
	return dst
}
