package ranges

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// draw turns a picture like "..XX.X" into the set it shows: X is a byte in
// the set, '.' a byte outside it.
func draw(pic string) Set {
	var s Set
	for i := 0; i < len(pic); i++ {
		if pic[i] == 'X' {
			s = s.Add(int64(i), 1)
		}
	}
	return s
}

func picture(s Set, n int) string {
	b := []byte(strings.Repeat(".", n))
	for _, r := range s {
		for i := r.Off; i < r.End() && i < int64(n); i++ {
			b[i] = 'X'
		}
	}
	return string(b)
}

func mustCheck(t *testing.T, s Set) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatalf("invariant broken: %v in %v", err, s)
	}
}

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		start    string
		off, n   int64
		want     string
		wantRngs int
	}{
		{"..........", 2, 3, "..XXX.....", 1},
		{"..XXX.....", 5, 2, "..XXXXX...", 1}, // touching at the end merges
		{"..XXX.....", 0, 2, "XXXXX.....", 1}, // touching at the start merges
		{"..XXX.....", 6, 2, "..XXX.XX..", 2}, // a gap keeps them apart
		{"X.X.X.X...", 1, 5, "XXXXXXX...", 1}, // one write bridges many
		{"XX......XX", 4, 1, "XX..X...XX", 3}, // insert in the middle
		{"..XXXX....", 3, 1, "..XXXX....", 1}, // inside: no change
		{"..XX..XX..", 0, 10, "XXXXXXXXXX", 1},
		{"..........", 4, 0, "..........", 0}, // empty write
	} {
		s := draw(tc.start).Add(tc.off, tc.n)
		mustCheck(t, s)
		if got := picture(s, 10); got != tc.want || len(s) != tc.wantRngs {
			t.Errorf("%s + [%d,%d): got %s (%d ranges), want %s (%d)", tc.start, tc.off, tc.off+tc.n, got, len(s), tc.want, tc.wantRngs)
		}
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		start  string
		off, n int64
		want   string
	}{
		{"XXXXXXXXXX", 2, 3, "XX...XXXXX"}, // hole in the middle
		{"..XXX.....", 0, 3, "...XX....."}, // cut the front
		{"..XXX.....", 4, 6, "..XX......"}, // cut the back
		{"X.X.X.X...", 1, 5, "X.....X..."}, // drop whole ranges
		{"..XXX.....", 6, 2, "..XXX....."}, // miss
	} {
		orig := draw(tc.start)
		s := orig.Clone().Remove(tc.off, tc.n)
		mustCheck(t, s)
		if got := picture(s, 10); got != tc.want {
			t.Errorf("%s - [%d,%d): got %s, want %s", tc.start, tc.off, tc.off+tc.n, got, tc.want)
		}
	}
}

func TestTruncateAlignIntersect(t *testing.T) {
	s := draw("..XXX..XX.")
	if got := picture(s.Clone().Truncate(4), 10); got != "..XX......" {
		t.Errorf("Truncate(4) = %s", got)
	}
	if got := picture(s.Clone().Truncate(0), 10); got != ".........." {
		t.Errorf("Truncate(0) = %s", got)
	}
	// blocks of 4: ..XX|X..X|X. -> XXXX|XXXX|XX (cut at size 10)
	if got := picture(s.Align(4, 10), 12); got != "XXXXXXXXXX.." {
		t.Errorf("Align(4,10) = %s", got)
	}
	if got := picture(s.Intersect(3, 5), 10); got != "...XX..X.." {
		t.Errorf("Intersect(3,5) = %s", got)
	}
	if !s.Contains(2, 3) || s.Contains(2, 4) || !s.Contains(7, 0) {
		t.Errorf("Contains wrong on %v", s)
	}
}

// TestRandomAgainstModel applies random adds and removes to a Set and to a
// plain bitmap and compares after every step.
func TestRandomAgainstModel(t *testing.T) {
	const size = 200
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var s Set
		model := make([]bool, size)
		for step := 0; step < 100; step++ {
			off := rng.Int63n(size)
			n := rng.Int63n(size-off) + 1
			switch rng.Intn(4) {
			case 0, 1:
				s = s.Add(off, n)
				for i := off; i < off+n; i++ {
					model[i] = true
				}
			case 2:
				s = s.Remove(off, n)
				for i := off; i < off+n; i++ {
					model[i] = false
				}
			case 3:
				var other Set
				other = other.Add(off, n)
				s = s.Subtract(other)
				for i := off; i < off+n; i++ {
					model[i] = false
				}
			}
			mustCheck(t, s)
			for i := int64(0); i < size; i++ {
				if in := s.Contains(i, 1); in != model[i] {
					t.Fatalf("seed %d step %d: byte %d in set = %v, model %v; set %v", seed, step, i, in, model[i], s)
				}
			}
		}
		// Round trip through the encoding.
		got, rest, err := Decode(s.AppendBinary(nil))
		if err != nil || len(rest) != 0 || !reflect.DeepEqual(got, append(Set{}, s...)) && !(len(got) == 0 && len(s) == 0) {
			t.Fatalf("seed %d: round trip %v -> %v, %v", seed, s, got, err)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	bad := [][]byte{
		nil,
		{0xff},
		{2, 0, 5},       // count 2 but one range
		{1, 0, 0},       // empty range
		{2, 0, 5, 0, 3}, // touching ranges break the invariant
	}
	for _, b := range bad {
		if _, _, err := Decode(b); err == nil {
			t.Errorf("Decode(%v) accepted garbage", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Set{{0, 5}, {10, 3}}.AppendBinary(nil))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _, err := Decode(b)
		if err == nil {
			if err := s.Check(); err != nil {
				t.Fatalf("Decode returned a broken set: %v", err)
			}
		}
	})
}

func BenchmarkAddSequential(b *testing.B) {
	b.ReportAllocs()
	var s Set
	for i := 0; i < b.N; i++ {
		s = s.Add(int64(i)*4096, 4096)
	}
}

func BenchmarkAddRandom(b *testing.B) {
	b.ReportAllocs()
	rng := rand.New(rand.NewSource(1))
	var s Set
	for i := 0; i < b.N; i++ {
		s = s.Add(rng.Int63n(1<<30)&^4095, 4096)
	}
}

// TestUnionAgainstModel: the one-pass Union of two random sets equals the
// bytes of both, and neither operand is changed when t has many ranges.
func TestUnionAgainstModel(t *testing.T) {
	const size = 300
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var a, b Set
		model := make([]bool, size)
		for _, set := range []*Set{&a, &b} {
			for n := rng.Intn(12); n > 0; n-- {
				off := rng.Int63n(size)
				l := rng.Int63n(min(20, size-off)) + 1
				*set = set.Add(off, l)
				for i := off; i < off+l; i++ {
					model[i] = true
				}
			}
		}
		bCopy := b.Clone()
		u := a.Clone().Union(b)
		mustCheck(t, u)
		for i := int64(0); i < size; i++ {
			if u.Contains(i, 1) != model[i] {
				t.Fatalf("seed %d: byte %d: union %v of %v and %v", seed, i, u, a, b)
			}
		}
		if !reflect.DeepEqual(b, bCopy) {
			t.Fatalf("seed %d: Union changed its argument", seed)
		}
	}
}

// BenchmarkUnion merges two sets of 14k ranges, the case the journal met
// inside its write transaction (quadratic before: 0.6 s).
func BenchmarkUnion(b *testing.B) {
	var s, t Set
	for i := int64(0); i < 14000; i++ {
		s = s.Add(i*100, 10)
		t = t.Add(i*100+50, 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Clone().Union(t)
	}
}
