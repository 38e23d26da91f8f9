package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEscapeName(t *testing.T) {
	for _, name := range []string{
		"job.odb", "with space", "ünïcödé", "%percent", `back\slash`, ".hidden", ".syncfs-x",
		"\x01ctl", "bad\xffutf8", strings.Repeat("é", 127), strings.Repeat("\xff", 200),
	} {
		e := EscapeName(name)
		if len(e) > MaxNameLen || strings.ContainsAny(e, "/\\\x00") || strings.HasPrefix(e, ".") {
			t.Errorf("EscapeName(%q) = %q: not a safe key component", name, e)
		}
		if back, ok := UnescapeName(e); ok && back != name {
			t.Errorf("round trip %q -> %q -> %q", name, e, back)
		} else if !ok && !strings.HasPrefix(e, "%h") {
			t.Errorf("UnescapeName(%q) failed", e)
		}
	}
	if EscapeName("a") == EscapeName("A") || EscapeName(strings.Repeat("\xff", 200)) == EscapeName(strings.Repeat("\xfe", 200)) {
		t.Error("distinct names share a key")
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", strings.Repeat("x", 256)} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
	if CheckName("ok name.odb") != nil {
		t.Error("rejected a fine name")
	}
}

func TestDentryRoundTrip(t *testing.T) {
	d := Dentry{Kind: KindSymlink, ID: 42, Name: "link"}
	got, err := DecodeDentry(d.Encode())
	if err != nil || got != d {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []Dentry{{Kind: 9, ID: 5, Name: "x"}, {Kind: 1, ID: 1, Name: "x"}, {Kind: 1, ID: 5, Name: ".."}, {Kind: 1, ID: 5, Name: "a/b"}} {
		if _, err := DecodeDentry(bad.Encode()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func sampleManifest() *Manifest {
	m := &Manifest{Version: 7, Kind: KindFile, Mode: 0o4755, UID: 1000, GID: 100,
		Mtime: time.Unix(1700000000, 123456789), Size: SegmentSize + 5, NextSeq: 9,
		Xattrs:   []Xattr{{Name: "user.a", Value: []byte("1")}},
		Segments: []SegmentRef{{Version: 7, CRC: 1}, {Version: 3, CRC: 2}},
		Objects:  []Object{{Seq: 2, Stored: 100, Raw: 300, Live: 200}, {Seq: 8, Stored: 5, Raw: 5, Live: 5}},
	}
	m.SetDigest()
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	got, err := DecodeManifest(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Mtime.Equal(m.Mtime) {
		t.Fatalf("mtime %v != %v", got.Mtime, m.Mtime)
	}
	got.Mtime = m.Mtime
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
}

func TestManifestRejects(t *testing.T) {
	mutate := func(f func(m *Manifest)) []byte {
		m := sampleManifest()
		f(m)
		return m.Encode()
	}
	cases := map[string][]byte{
		"1 PB size":          mutate(func(m *Manifest) { m.Size = 1 << 51; m.Segments = nil }),
		"segment count":      mutate(func(m *Manifest) { m.Segments = m.Segments[:1] }),
		"object after next":  mutate(func(m *Manifest) { m.NextSeq = 3 }),
		"objects unsorted":   mutate(func(m *Manifest) { m.Objects[0].Seq = 8 }),
		"dir with data":      mutate(func(m *Manifest) { m.Kind = KindDir }),
		"future segment ver": mutate(func(m *Manifest) { m.Segments[0].Version = 99 }),
	}
	b := sampleManifest().Encode()
	flipped := append([]byte(nil), b...)
	flipped[20] ^= 1
	cases["flipped bit"] = flipped
	cases["truncated"] = b[:len(b)-9]
	// A count claiming 2^32 segments: must fail without allocating them.
	huge := append([]byte(nil), b[:len(b)-4]...)
	binary.LittleEndian.PutUint32(huge[77:], math.MaxUint32) // segment count
	cases["huge count"] = binary.LittleEndian.AppendUint32(huge, CRC(huge))
	for name, b := range cases {
		if _, err := DecodeManifest(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestSegmentPutClear(t *testing.T) {
	// Model: which frame byte each segment byte maps to, in units of
	// blocks, for a segment of 16 blocks.
	const nb = 16
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		s := &Segment{}
		model := make([]int64, nb) // -1 zero; else seq*1000 + block of frame
		for i := range model {
			model[i] = -1
		}
		live := map[uint64]int64{}
		for step := 0; step < 30; step++ {
			off := uint32(rng.Intn(nb))
			n := uint32(rng.Intn(nb-int(off))) + 1
			var removed []Extent
			if rng.Intn(4) == 0 {
				removed = s.Clear(off*BlockSize, n*BlockSize)
				for i := off; i < off+n; i++ {
					model[i] = -1
				}
			} else {
				seq := uint64(step + 1)
				skip := uint32(rng.Intn(3))
				x := Extent{Off: off * BlockSize, Len: n * BlockSize, Seq: seq, RawLen: (n + skip) * BlockSize, Skip: skip * BlockSize, FrameLen: 1}
				removed = s.Put(x)
				live[seq] += int64(x.Len)
				for i := off; i < off+n; i++ {
					model[i] = int64(seq)*1000 + int64(skip+i-off)
				}
			}
			for _, r := range removed {
				live[r.Seq] -= int64(r.Len)
			}
			// Check invariants and the model.
			for i, x := range s.Extents {
				if i > 0 && x.Off < s.Extents[i-1].End() {
					t.Fatalf("seed %d: overlap", seed)
				}
				if x.Skip+x.Len > x.RawLen {
					t.Fatalf("seed %d: extent outside frame", seed)
				}
			}
			got := make([]int64, nb)
			for i := range got {
				got[i] = -1
			}
			sum := map[uint64]int64{}
			for _, x := range s.Extents {
				for b := x.Off / BlockSize; b < x.End()/BlockSize; b++ {
					got[b] = int64(x.Seq)*1000 + int64(x.Skip/BlockSize+b-x.Off/BlockSize)
				}
				sum[x.Seq] += int64(x.Len)
			}
			if !reflect.DeepEqual(got, model) {
				t.Fatalf("seed %d step %d: got %v want %v", seed, step, got, model)
			}
			for seq, l := range live {
				if sum[seq] != l {
					t.Fatalf("seed %d: live bytes of %d = %d, extents say %d", seed, seq, l, sum[seq])
				}
			}
		}
	}
}

func TestSegmentRoundTripAndRejects(t *testing.T) {
	size := int64(3*BlockSize + 100)
	s := ZeroSegment(0, size)
	s.Version = 4
	s.Put(Extent{Off: 0, Len: 2 * BlockSize, Seq: 1, RawLen: 2 * BlockSize, FrameLen: 10, Codec: CodecZstd})
	s.Put(Extent{Off: 3 * BlockSize, Len: 100, Seq: 2, RawLen: 100, FrameLen: 100, Codec: CodecRaw})
	got, err := DecodeSegment(s.Encode(), 0, 4, size)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, got, s)
	}
	if _, err := DecodeSegment(s.Encode(), 0, 5, size); err == nil {
		t.Error("wrong version accepted")
	}
	if _, err := DecodeSegment(s.Encode(), 0, 4, size+BlockSize); err == nil {
		t.Error("wrong file size accepted (block count)")
	}
	bad := *s
	bad.Extents = append([]Extent(nil), s.Extents...)
	bad.Extents[1].Len = 200 // past the end of the file
	if _, err := DecodeSegment(bad.Encode(), 0, 4, size); err == nil {
		t.Error("extent past EOF accepted")
	}
	bad.Extents[1] = Extent{Off: BlockSize, Len: BlockSize, Seq: 3, RawLen: BlockSize, FrameLen: 5, Codec: CodecZstd}
	if _, err := DecodeSegment(bad.Encode(), 0, 4, size); err == nil {
		t.Error("overlapping extents accepted")
	}
}

func floats(n int) []byte {
	b := make([]byte, n)
	for i := 0; i+4 <= n; i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(math.Sin(float64(i)/4000)*100)))
	}
	return b
}

func TestFrameCodecs(t *testing.T) {
	c, err := NewCompressor("")
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, MaxFrameRaw)
	rand.New(rand.NewSource(1)).Read(random)
	for name, tc := range map[string]struct {
		raw  []byte
		want Codec
	}{
		"random":   {random, CodecRaw},
		"zeros":    {make([]byte, 100000), CodecZstd},
		"text":     {bytes.Repeat([]byte("INCREMENT 1 SUMMARY\n"), 5000), CodecZstd},
		"float32s": {floats(MaxFrameRaw), CodecShuffleZstd},
		"odd len":  {floats(1001), CodecShuffleZstd},
		"empty":    {nil, CodecRaw},
	} {
		stored, codec := c.Encode(nil, tc.raw)
		if codec != tc.want && len(tc.raw) > 0 {
			t.Errorf("%s: codec %v, want %v (%d -> %d)", name, codec, tc.want, len(tc.raw), len(stored))
		}
		got, err := Decode(nil, stored, codec, uint32(len(tc.raw)), CRC(tc.raw))
		if err != nil || !bytes.Equal(got, tc.raw) {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if codec != CodecRaw {
			bad := append([]byte(nil), stored...)
			bad[len(bad)/2] ^= 0xff
			if _, err := Decode(nil, bad, codec, uint32(len(tc.raw)), CRC(tc.raw)); err == nil {
				t.Errorf("%s: corrupt frame decoded", name)
			}
		}
		t.Logf("%s: %v %d -> %d", name, codec, len(tc.raw), len(stored))
	}
	// A frame that decodes to more than its manifest says is refused.
	big, codec := c.Encode(nil, make([]byte, 2*MaxFrameRaw))
	if _, err := Decode(nil, big, codec, MaxFrameRaw, 0); err == nil {
		t.Error("oversized frame decoded")
	}
}

// Format 2 segments carry page-aligned extents under their own magic; a
// format-1 segment may not, and a format-2 one may not go below a page.
func TestFormat2Segment(t *testing.T) {
	const size = 3*BlockSize + 100
	page := func(f int, off, n uint32) *Segment {
		s := ZeroSegment(0, size)
		s.Format, s.Version = f, 2
		s.Put(Extent{Off: off, Len: n, Seq: 1, RawLen: n, FrameLen: 3, Codec: CodecZstd})
		return s
	}
	s := page(Version2, 5*PageSize, PageSize)
	s.Put(Extent{Off: 3 * BlockSize, Len: 100, Seq: 2, RawLen: 100, FrameLen: 3, Codec: CodecZstd}) // the file's tail
	got, err := DecodeSegment(s.Encode(), 0, 2, size)
	if err != nil {
		t.Fatalf("format-2 segment with page extents: %v", err)
	}
	if got.Format != Version2 || len(got.Extents) != 2 || got.Extents[0] != s.Extents[0] {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	if b := got.Encode(); string(b[:4]) != "SFS2" {
		t.Fatalf("re-encoded with magic %q", b[:4])
	}
	for _, bad := range []*Segment{
		page(Version, 5*PageSize, PageSize),    // format 1: a page extent is misaligned
		page(Version2, 5*PageSize+512, 3584),   // below a page
		page(Version2, 5*PageSize, PageSize/2), // a partial page inside the file
	} {
		if _, err := DecodeSegment(bad.Encode(), 0, 2, size); !errors.Is(err, ErrCorrupt) {
			t.Errorf("format %d extent %+v: accepted (%v)", bad.Format, bad.Extents[0], err)
		}
	}
	// Format-1 segments keep decoding as format 1.
	old := page(Version, BlockSize, BlockSize)
	if got, err := DecodeSegment(old.Encode(), 0, 2, size); err != nil || got.Format == Version2 {
		t.Fatalf("format-1 segment: %+v, %v", got, err)
	}
}

func TestRootFormats(t *testing.T) {
	r := NewRoot("j")
	if _, err := DecodeRoot(r.Encode()); err != nil {
		t.Fatalf("format 1: %v", err)
	}
	r.Format, r.PageSize = Version2, PageSize
	if got, err := DecodeRoot(r.Encode()); err != nil || got.PageSize != PageSize {
		t.Fatalf("format 2: %+v, %v", got, err)
	}
	for _, bad := range []Root{
		{Format: Version2, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks},                         // no page size
		{Format: Version, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks, PageSize: PageSize},      // format 1 has none
		{Format: 3, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks, PageSize: PageSize},            // unknown
		{Format: Version2, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks, PageSize: 2 * PageSize}, // other pages
	} {
		if _, err := DecodeRoot(bad.Encode()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("root %+v accepted (%v)", bad, err)
		}
	}
}
