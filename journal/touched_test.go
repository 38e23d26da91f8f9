package journal

import (
	"testing"

	"github.com/syncfs/syncfs/internal/ranges"
)

// TestTouched: after a claim, Touched names what was recorded in memory
// but not yet committed when the claim was queued (it is not the
// claim's), what was recorded after it, and writes begun but not ended;
// nothing once the claim is settled.
func TestTouched(t *testing.T) {
	j := openTest(t, t.TempDir())
	id, err := j.Create(RootID, "f", KindFile, "")
	if err != nil {
		t.Fatal(err)
	}
	j.RecordWrite(id, 0, 100)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	j.RecordWrite(id, 1000, 10) // in memory: commits after the claim
	c, ok, err := j.Claim(id)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if c.Ranges.Contains(1000, 10) {
		t.Fatalf("claim took a write queued with it: %v", c.Ranges)
	}
	j.RecordWrite(id, 5000, 10)
	j.BeginWrite(id, 9000, 10)
	want := ranges.Set{}.Add(1000, 10).Add(5000, 10).Add(9000, 10)
	if got := j.Touched(id, 0, 1<<20); !equal(got, want) {
		t.Fatalf("touched %v, want %v", got, want)
	}
	if got := j.Touched(id, 4096, 4096); !equal(got, ranges.Set{}.Add(5000, 10)) {
		t.Fatalf("touched in one page: %v", got)
	}
	if err := j.Ack(c); err != nil {
		t.Fatal(err)
	}
	if got := j.Touched(id, 0, 1<<20); !equal(got, ranges.Set{}.Add(9000, 10)) {
		t.Fatalf("after the ack only the write under way is left: %v", got)
	}
	j.EndWrite(id, 9000, 10, 10)
	if got := j.Touched(id, 0, 1<<20); len(got) != 0 {
		t.Fatalf("after the write ended: %v", got)
	}
}

func equal(a, b ranges.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
