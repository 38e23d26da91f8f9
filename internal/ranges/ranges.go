// Package ranges is a set of byte ranges kept sorted and merged: the value
// type in which the journal records which bytes of a file are dirty, and in
// which the uploader computes what a claim covers.
//
// A Set is a plain slice so that it can be copied, compared and encoded
// cheaply; every method keeps the invariant that Check verifies: ranges are
// non-empty, sorted by offset, and neither overlap nor touch.
package ranges

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Range is the half-open byte interval [Off, Off+Len).
type Range struct {
	Off, Len int64
}

// End returns the first byte after r.
func (r Range) End() int64 { return r.Off + r.Len }

func (r Range) String() string { return fmt.Sprintf("[%d,%d)", r.Off, r.End()) }

// Set is a sorted, merged set of ranges. The zero value is the empty set.
type Set []Range

// Check returns an error describing the first broken invariant, or nil.
func (s Set) Check() error {
	for i, r := range s {
		if r.Len <= 0 {
			return fmt.Errorf("range %d %v is empty", i, r)
		}
		if r.Off < 0 || r.End() < r.Off {
			return fmt.Errorf("range %d %v out of bounds", i, r)
		}
		if i > 0 && s[i-1].End() >= r.Off {
			return fmt.Errorf("ranges %d %v and %d %v overlap or touch", i-1, s[i-1], i, r)
		}
	}
	return nil
}

// Bytes returns the number of bytes the set covers.
func (s Set) Bytes() int64 {
	var n int64
	for _, r := range s {
		n += r.Len
	}
	return n
}

// Clone returns a copy that shares no memory with s.
func (s Set) Clone() Set {
	if len(s) == 0 {
		return nil
	}
	return append(Set(nil), s...)
}

// Add returns s with [off, off+n) included. It may reuse s's storage.
func (s Set) Add(off, n int64) Set {
	if n <= 0 {
		return s
	}
	end := off + n
	// Fast path: appending at or after the last range, the common case for
	// a solver writing a file front to back.
	if k := len(s); k == 0 || s[k-1].End() < off {
		return append(s, Range{off, n})
	} else if last := &s[k-1]; last.Off <= off {
		if end > last.End() {
			last.Len = end - last.Off
		}
		return s
	}
	// i: first range that ends at or after off (could merge with it).
	i := sort.Search(len(s), func(i int) bool { return s[i].End() >= off })
	// j: first range that starts after end (cannot merge).
	j := sort.Search(len(s), func(j int) bool { return s[j].Off > end })
	if i < j {
		if s[i].Off < off {
			off = s[i].Off
		}
		if e := s[j-1].End(); e > end {
			end = e
		}
	}
	merged := Range{off, end - off}
	if i == j {
		s = append(s, Range{})
		copy(s[i+1:], s[i:])
		s[i] = merged
		return s
	}
	s[i] = merged
	return append(s[:i+1], s[j:]...)
}

// Union returns s with every range of t included, in one pass over both
// (linear: the journal merges large dirty sets inside its write
// transaction). It may reuse s's storage when t is empty or adds at most
// a few ranges.
func (s Set) Union(t Set) Set {
	switch {
	case len(t) == 0:
		return s
	case len(s) == 0:
		return t.Clone()
	case len(t) <= 2:
		for _, r := range t {
			s = s.Add(r.Off, r.Len)
		}
		return s
	}
	out := make(Set, 0, len(s)+len(t))
	i, k := 0, 0
	for i < len(s) || k < len(t) {
		var r Range
		if k == len(t) || (i < len(s) && s[i].Off <= t[k].Off) {
			r, i = s[i], i+1
		} else {
			r, k = t[k], k+1
		}
		if n := len(out); n > 0 && out[n-1].End() >= r.Off {
			if e := r.End(); e > out[n-1].End() {
				out[n-1].Len = e - out[n-1].Off
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Remove returns s without [off, off+n). It may reuse s's storage.
func (s Set) Remove(off, n int64) Set {
	if n <= 0 || len(s) == 0 {
		return s
	}
	end := off + n
	var out Set
	for k, r := range s {
		if r.End() <= off || r.Off >= end {
			if out != nil {
				out = append(out, r)
			}
			continue
		}
		if out == nil {
			out = make(Set, k, len(s)+1)
			copy(out, s[:k])
		}
		if r.Off < off {
			out = append(out, Range{r.Off, off - r.Off})
		}
		if r.End() > end {
			out = append(out, Range{end, r.End() - end})
		}
	}
	if out == nil {
		return s
	}
	return out
}

// Subtract returns s without any byte of t.
func (s Set) Subtract(t Set) Set {
	for _, r := range t {
		s = s.Remove(r.Off, r.Len)
	}
	return s
}

// Truncate returns s without any byte at or after size.
func (s Set) Truncate(size int64) Set {
	if size < 0 {
		size = 0
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].End() > size })
	if i == len(s) {
		return s
	}
	if s[i].Off < size {
		s[i].Len = size - s[i].Off
		i++
	}
	return s[:i]
}

// Intersect returns the bytes of [off, off+n) that s covers.
func (s Set) Intersect(off, n int64) Set {
	end := off + n
	var out Set
	i := sort.Search(len(s), func(i int) bool { return s[i].End() > off })
	for ; i < len(s) && s[i].Off < end; i++ {
		a, b := max(s[i].Off, off), min(s[i].End(), end)
		out = append(out, Range{a, b - a})
	}
	return out
}

// Contains reports whether every byte of [off, off+n) is in s.
func (s Set) Contains(off, n int64) bool {
	if n <= 0 {
		return true
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].End() > off })
	return i < len(s) && s[i].Off <= off && s[i].End() >= off+n
}

// Align returns s with every range widened to multiples of block, and, when
// size >= 0, cut at size: the byte ranges a reader that works in whole blocks
// must read to cover s.
func (s Set) Align(block, size int64) Set {
	var out Set
	for _, r := range s {
		a := r.Off / block * block
		b := (r.End() + block - 1) / block * block
		if size >= 0 && b > size {
			b = size
		}
		if b > a {
			out = out.Add(a, b-a)
		}
	}
	return out
}

// Encoding: uvarint count, then per range uvarint(gap from previous end)
// and uvarint(length). Gaps keep the encoding short for the dense sets that
// sequential writers produce.

// AppendBinary appends the encoding of s to b.
func (s Set) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	var prev int64
	for _, r := range s {
		b = binary.AppendUvarint(b, uint64(r.Off-prev))
		b = binary.AppendUvarint(b, uint64(r.Len))
		prev = r.End()
	}
	return b
}

var errCorrupt = errors.New("corrupt range set encoding")

// Decode parses an encoding made by AppendBinary and returns the set and
// the bytes that follow it. It never panics and rejects sets that break the
// invariant.
func Decode(b []byte) (Set, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, errCorrupt
	}
	b = b[k:]
	s := make(Set, 0, n)
	var prev int64
	for i := uint64(0); i < n; i++ {
		gap, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return nil, nil, errCorrupt
		}
		l, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 || gap > 1<<62 || l > 1<<62 {
			return nil, nil, errCorrupt
		}
		b = b[k1+k2:]
		off := prev + int64(gap)
		if off < prev || off+int64(l) < off {
			return nil, nil, errCorrupt
		}
		s = append(s, Range{off, int64(l)})
		prev = off + int64(l)
	}
	if err := s.Check(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return s, b, nil
}
