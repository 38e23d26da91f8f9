package format

import "testing"

// The decoders face bytes from a remote anyone may have written. Each must
// return an error or a value that passes its own validation, never panic
// or allocate beyond the input. Corpus: testdata/fuzz.

func FuzzDecodeManifest(f *testing.F) {
	f.Add(sampleManifest().Encode())
	f.Add((&Manifest{Version: 1, Kind: KindDir}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if m.Size > MaxFileSize || len(m.Segments) != NumSegments(m.Size) {
			t.Fatalf("accepted invalid manifest %+v", m)
		}
		if _, err := DecodeManifest(m.Encode()); err != nil {
			t.Fatalf("re-encoding a valid manifest: %v", err)
		}
	})
}

func FuzzDecodeSegment(f *testing.F) {
	s := ZeroSegment(0, 3*BlockSize)
	s.Version = 2
	s.Put(Extent{Off: 0, Len: BlockSize, Seq: 1, RawLen: BlockSize, FrameLen: 3, Codec: CodecZstd})
	f.Add(s.Encode(), int64(3*BlockSize))
	s2 := ZeroSegment(0, 3*BlockSize+100)
	s2.Format, s2.Version = Version2, 2
	s2.Put(Extent{Off: 5 * PageSize, Len: PageSize, Seq: 1, RawLen: PageSize, FrameLen: 3, Codec: CodecZstd})
	s2.Put(Extent{Off: 3 * BlockSize, Len: 100, Seq: 2, RawLen: 100, FrameLen: 3, Codec: CodecZstd})
	f.Add(s2.Encode(), int64(3*BlockSize+100))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		if size < 0 || size > MaxFileSize {
			return
		}
		seg, err := DecodeSegment(b, 0, 2, size)
		if err != nil {
			return
		}
		for i, x := range seg.Extents {
			align := uint32(BlockSize)
			if seg.Format == Version2 {
				align = PageSize
			}
			if int64(x.End()) > SegmentLen(size, 0) || x.Skip+x.Len > x.RawLen || (i > 0 && x.Off < seg.Extents[i-1].End()) || x.Off%align != 0 {
				t.Fatalf("accepted invalid extent %+v", x)
			}
		}
	})
}

func FuzzDecodeDentry(f *testing.F) {
	f.Add(Dentry{Kind: KindFile, ID: 5, Name: "job.odb"}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDentry(b)
		if err == nil && CheckName(d.Name) != nil {
			t.Fatalf("accepted bad name %q", d.Name)
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	c, _ := NewCompressor("")
	raw := floats(5000)
	stored, codec := c.Encode(nil, raw)
	f.Add(stored, uint8(codec), uint32(len(raw)))
	f.Fuzz(func(t *testing.T, b []byte, codec uint8, rawLen uint32) {
		out, err := Decode(nil, b, Codec(codec), rawLen, 0)
		if err == nil && len(out) != int(rawLen) {
			t.Fatalf("decoded %d bytes, want %d", len(out), rawLen)
		}
	})
}

// FuzzDecodeRoot: a root marker of any bytes is refused or read as one of
// the two formats with its own page size, never a panic.
func FuzzDecodeRoot(f *testing.F) {
	f.Add(NewRoot("0123456789abcdef0123456789abcdef").Encode())
	f.Add(NewRootFormat1("0123456789abcdef0123456789abcdef").Encode())
	f.Add([]byte(`{"format":2,"block_size":65536,"segment_blocks":1024}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRoot(b)
		if err != nil {
			return
		}
		if r.Format == Version2 && r.PageSize != PageSize || r.Format == Version && r.PageSize != 0 {
			t.Fatalf("accepted format %d with pages of %d", r.Format, r.PageSize)
		}
		if r.Granule() != PageSize && r.Granule() != BlockSize {
			t.Fatalf("granule %d", r.Granule())
		}
	})
}
