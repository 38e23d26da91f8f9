package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Gen is a deterministic pseudo-random byte stream of a fixed size that
// costs no memory: byte i depends only on the seed and i. It implements
// io.ReadSeeker but, on purpose, not io.ReaderAt, so that a backend cannot
// take a zero-copy shortcut and must show that its buffering is bounded.
type Gen struct {
	seed, size, pos int64
}

// NewGen returns a stream of size bytes drawn from seed.
func NewGen(seed, size int64) *Gen { return &Gen{seed: seed, size: size} }

// word returns the 8 bytes at offset 8*i (splitmix64).
func (g *Gen) word(i int64) uint64 {
	z := uint64(g.seed)*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9 + 1
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Read implements io.Reader.
func (g *Gen) Read(p []byte) (int, error) {
	if g.pos >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - g.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := g.fill(p, g.pos)
	g.pos += int64(n)
	return n, nil
}

func (g *Gen) fill(p []byte, off int64) int {
	var buf [8]byte
	n := 0
	for n < len(p) {
		at := off + int64(n)
		binary.LittleEndian.PutUint64(buf[:], g.word(at/8))
		n += copy(p[n:], buf[at%8:])
	}
	return n
}

// Seek implements io.Seeker.
func (g *Gen) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += g.pos
	case io.SeekEnd:
		off += g.size
	default:
		return 0, errors.New("gen: bad whence")
	}
	if off < 0 {
		return 0, errors.New("gen: negative position")
	}
	g.pos = off
	return off, nil
}

// Bytes returns the bytes [off, off+n) of the stream, cut at its end.
func (g *Gen) Bytes(off, n int64) []byte {
	if off >= g.size {
		return []byte{}
	}
	if off+n > g.size {
		n = g.size - off
	}
	p := make([]byte, n)
	g.fill(p, off)
	return p
}

// Sum returns the SHA-256 of the whole stream.
func (g *Gen) Sum() [32]byte {
	h := sha256.New()
	c := &Gen{seed: g.seed, size: g.size}
	if _, err := io.CopyBuffer(h, c, make([]byte, 1<<20)); err != nil {
		panic(err) // Gen never fails
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// GenAt is a Gen that also implements io.ReaderAt, like an *os.File.
type GenAt struct{ *Gen }

// NewGenAt returns a stream of size bytes drawn from seed with ReadAt.
func NewGenAt(seed, size int64) GenAt { return GenAt{NewGen(seed, size)} }

// ReadAt implements io.ReaderAt.
func (g GenAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - off; int64(len(p)) > rem {
		n := g.fill(p[:rem], off)
		return n, io.EOF
	}
	return g.fill(p, off), nil
}
