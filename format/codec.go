package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC is the crc32c of b.
func CRC(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt object")

func corrupt(what string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(what, args...))
}

// enc appends fixed-width little-endian fields.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)     { e.b = append(e.b, v) }
func (e *enc) u16(v uint16)   { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) raw(v []byte)   { e.b = append(e.b, v...) }
func (e *enc) str16(s string) { e.u16(uint16(len(s))); e.b = append(e.b, s...) }

// seal appends the crc32c of everything so far.
func (e *enc) seal() []byte { e.u32(CRC(e.b)); return e.b }

// dec reads fields in order, remembering the first error, so decoders read
// like the format and never index past the input.
type dec struct {
	b   []byte
	off int
	err error
}

// open checks magic and the trailing crc, and returns a decoder for the
// body between them.
func open(b []byte, magic string, what string) (*dec, error) {
	if len(b) < len(magic)+4 {
		return nil, corrupt("%s: %d bytes is too short", what, len(b))
	}
	if string(b[:len(magic)]) != magic {
		return nil, corrupt("%s: bad magic %q", what, b[:len(magic)])
	}
	body := b[:len(b)-4]
	if got, want := CRC(body), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, corrupt("%s: checksum mismatch", what)
	}
	return &dec{b: body, off: len(magic)}, nil
}

func (d *dec) need(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || len(d.b)-d.off < n {
		d.err = corrupt("truncated at byte %d (need %d more)", d.off, n)
		return false
	}
	return true
}

func (d *dec) u8() uint8 {
	if !d.need(1) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *dec) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) u64() uint64 {
	if !d.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *dec) bytes(n int) []byte {
	if !d.need(n) {
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *dec) str16(max int) string {
	n := int(d.u16())
	if n > max {
		d.fail("string of %d bytes, more than %d", n, max)
		return ""
	}
	return string(d.bytes(n))
}

// count reads a u32 count of records of size each and checks that they
// fit in what is left, so a hostile count cannot make a large allocation.
func (d *dec) count(size int) int {
	n := d.u32()
	if d.err == nil && uint64(n)*uint64(size) > uint64(len(d.b)-d.off) {
		d.fail("%d records of %d bytes do not fit in %d bytes", n, size, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt(format, args...)
	}
}

func (d *dec) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = corrupt("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}
