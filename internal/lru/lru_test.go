package lru

import (
	"math/rand"
	"testing"
)

// The cache against a naive model: a slice ordered by recency, evicted
// from the old end while over budget.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, limit := range []int64{1, 5, 100} {
		c := New[int, []byte](limit, func(b []byte) int64 { return int64(len(b)) })
		type kv struct {
			k int
			n int
		}
		var model []kv // most recent last
		find := func(k int) int {
			for i, e := range model {
				if e.k == k {
					return i
				}
			}
			return -1
		}
		for op := 0; op < 20000; op++ {
			k := rng.Intn(30)
			if rng.Intn(2) == 0 {
				v, ok := c.Get(k)
				i := find(k)
				if ok != (i >= 0) || (ok && len(v) != model[i].n) {
					t.Fatalf("limit %d op %d: Get(%d) = %d bytes, %v; model has index %d", limit, op, k, len(v), ok, i)
				}
				if i >= 0 {
					e := model[i]
					model = append(append(model[:i:i], model[i+1:]...), e)
				}
				continue
			}
			n := rng.Intn(10)
			c.Put(k, make([]byte, n))
			if i := find(k); i >= 0 {
				e := model[i]
				model = append(append(model[:i:i], model[i+1:]...), e)
			} else {
				model = append(model, kv{k, n})
			}
			var used int64
			for _, e := range model {
				used += int64(e.n)
			}
			for used > limit && len(model) > 1 {
				used -= int64(model[0].n)
				model = model[1:]
			}
			if c.Len() != len(model) || c.Used() != used {
				t.Fatalf("limit %d op %d: %d entries, %d used; model %d, %d", limit, op, c.Len(), c.Used(), len(model), used)
			}
		}
	}
}

func TestCountsEntriesWithoutCost(t *testing.T) {
	c := New[string, int](2, nil)
	c.Put("a", 1)
	c.Put("b", 2)
	c.Get("a")
	c.Put("c", 3) // b is the least recently used
	if _, ok := c.Get("b"); ok {
		t.Fatal("b stayed: not least recently used out first")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatal("a was evicted")
	}
	c.DeleteFunc(func(k string) bool { return k == "a" })
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Fatalf("DeleteFunc left a, or %d entries", c.Len())
	}
}
