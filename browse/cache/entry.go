package cache

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// An entry file is a 12-byte header, then the frame's raw bytes:
//
//	magic "SFC1" | raw length (u32 LE) | crc32c of the raw bytes (u32 LE)
const (
	entryMagic  = "SFC1"
	headerSize  = 12
	maxEntryRaw = 1 << 20 // format.MaxFrameRaw
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errBadEntry: the entry is damaged (torn, flipped bits).
	errBadEntry = errors.New("bad cache entry")
	// errOther: a sound entry, but not of the frame the caller expects.
	errOther = errors.New("cache entry of another frame")
)

// encodeEntry returns the file body for a frame.
func encodeEntry(raw []byte, crc uint32) []byte {
	b := make([]byte, headerSize, headerSize+len(raw))
	copy(b, entryMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(raw)))
	binary.LittleEndian.PutUint32(b[8:], crc)
	return append(b, raw...)
}

// decodeEntry checks an entry file and that it holds the frame the
// caller expects (its raw length and crc from the manifest), and returns
// the raw bytes, which alias b.
func decodeEntry(b []byte, rawLen int, crc uint32) ([]byte, error) {
	if len(b) < headerSize || string(b[:4]) != entryMagic {
		return nil, errBadEntry
	}
	n, sum := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	raw := b[headerSize:]
	if n > maxEntryRaw || len(raw) != int(n) || crc32.Checksum(raw, castagnoli) != sum {
		return nil, errBadEntry
	}
	if len(raw) != rawLen || sum != crc {
		return nil, errOther
	}
	return raw, nil
}
