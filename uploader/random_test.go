package uploader

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/syncfs/syncfs/format"
)

// TestRandomAgainstLocal applies random writes, rewrites and truncates,
// across segment boundaries and at unaligned offsets, flushing now and
// then; after every flush the remote must read back as the local file,
// with every invariant readBack checks.
func TestRandomAgainstLocal(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		version := format.Version2
		if seed > 6 {
			version = format.Version // a prefix made before format 2
		}
		r := newRig(t, nil, Config{Format: version})
		rng := rand.New(rand.NewSource(seed))
		id := r.create("r")
		var size int64
		for step := 0; step < 40; step++ {
			switch k := rng.Intn(10); {
			case k < 6:
				off := rng.Int63n(size + 3*format.BlockSize + 1)
				if rng.Intn(5) == 0 {
					off = rng.Int63n(2*format.SegmentSize + 1) // far, across segments
				}
				n := rng.Int63n(3*format.BlockSize) + 1
				var data []byte
				if rng.Intn(3) == 0 {
					data = make([]byte, n) // zeros: must become holes
				} else {
					data = fieldBytes(int(n), rng.Int63())
				}
				r.write(id, "r", off, data)
				if testing.Verbose() {
					t.Logf("step %d write [%d,%d)", step, off, off+n)
				}
				size = max(size, off+n)
			case k < 8:
				ns := rng.Int63n(size + format.BlockSize + 1)
				r.truncate(id, "r", ns)
				if testing.Verbose() {
					t.Logf("step %d truncate %d -> %d", step, size, ns)
				}
				size = ns
			default:
				r.flush()
				mustEqual(t, fmt.Sprintf("seed %d step %d size %d", seed, step, size), readBack(t, r.store, id), r.local("r"))
			}
		}
		r.flush()
		mustEqual(t, "random final", readBack(t, r.store, id), r.local("r"))
	}
}
