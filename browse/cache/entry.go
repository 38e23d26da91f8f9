package cache

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// An entry file is a header, then the frame's raw bytes. The header
// carries a crc32c of each 64 KiB block, so that a small read checks
// only the blocks it reads:
//
//	magic "SFC2"
//	raw length (u32 LE)
//	crc32c of the raw bytes (u32 LE): the frame's identity check
//	block count N (u32 LE): ceil(raw length / 64 KiB)
//	N × crc32c of each block (u32 LE)
//	crc32c of the header so far (u32 LE)
const (
	entryMagic  = "SFC2"
	blockSize   = 64 << 10
	maxEntryRaw = 1 << 20 // format.MaxFrameRaw
	maxBlocks   = maxEntryRaw / blockSize
)

// headerLen is the header's size for a frame of rawLen bytes.
func headerLen(rawLen int) int { return 16 + 4*numBlocks(rawLen) + 4 }

func numBlocks(rawLen int) int { return (rawLen + blockSize - 1) / blockSize }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var (
	// errBadEntry: the entry is damaged (torn, flipped bits).
	errBadEntry = errors.New("bad cache entry")
	// errOther: a sound entry, but not of the frame the caller expects.
	errOther = errors.New("cache entry of another frame")
)

// encodeEntry returns the file body for a frame whose crc32c is sum.
func encodeEntry(raw []byte, sum uint32) []byte {
	le := binary.LittleEndian
	nb := numBlocks(len(raw))
	b := make([]byte, 0, headerLen(len(raw))+len(raw))
	b = append(b, entryMagic...)
	b = le.AppendUint32(b, uint32(len(raw)))
	b = le.AppendUint32(b, sum)
	b = le.AppendUint32(b, uint32(nb))
	for i := 0; i < nb; i++ {
		b = le.AppendUint32(b, crc(raw[i*blockSize:min((i+1)*blockSize, len(raw))]))
	}
	b = le.AppendUint32(b, crc(b))
	return append(b, raw...)
}

// header is a decoded, checked entry header.
type header struct {
	rawLen int
	sum    uint32
	blocks []uint32
	len    int // bytes of header
}

// decodeHeader checks the header at the start of b (which may hold more)
// and returns it.
func decodeHeader(b []byte) (header, error) {
	le := binary.LittleEndian
	if len(b) < 20 || string(b[:4]) != entryMagic {
		return header{}, errBadEntry
	}
	h := header{rawLen: int(le.Uint32(b[4:])), sum: le.Uint32(b[8:])}
	nb := int(le.Uint32(b[12:]))
	if h.rawLen > maxEntryRaw || nb != numBlocks(h.rawLen) {
		return header{}, errBadEntry
	}
	h.len = headerLen(h.rawLen)
	if len(b) < h.len || le.Uint32(b[h.len-4:]) != crc(b[:h.len-4]) {
		return header{}, errBadEntry
	}
	for i := 0; i < nb; i++ {
		h.blocks = append(h.blocks, le.Uint32(b[16+4*i:]))
	}
	return h, nil
}

// decodeEntry checks a whole entry file and that it holds the frame the
// caller expects (its raw length and crc from the manifest), and returns
// the raw bytes, which alias b.
func decodeEntry(b []byte, rawLen int, sum uint32) ([]byte, error) {
	h, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	raw := b[h.len:]
	if len(raw) != h.rawLen || crc(raw) != h.sum {
		return nil, errBadEntry
	}
	if h.rawLen != rawLen || h.sum != sum {
		return nil, errOther
	}
	return raw, nil
}
