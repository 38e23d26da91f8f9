package browse_test

import (
	"context"
	"io"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/format"
)

// BenchmarkWarmRead reads a 64 MiB file in 1 MiB reads (as the kernel
// asks a FUSE daemon) with every frame in the disk cache and none in
// memory: the daemon's cost per byte of a warm re-read.
func BenchmarkWarmRead(b *testing.B) {
	const size = 64 << 20
	fx := newFixture(b, nil)
	fx.w.WriteFile("f", patterned(1, size), 0o644)
	c, err := cache.Open(b.TempDir(), 1<<30, cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	warm := fx.open(b, browse.Options{Cache: c})
	f, _ := warm.OpenFile(ctx, fx.w.ID("f"))
	f.WriteTo(ctx, io.Discard, 0, size, 4)
	c.Flush()
	buf := make([]byte, format.MaxFrameRaw)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		tr := fx.open(b, browse.Options{Cache: c, MemCache: 1}) // nothing in memory
		f, _ := tr.OpenFile(ctx, fx.w.ID("f"))
		var ra browse.Readahead
		for off := int64(0); off < size; off += int64(len(buf)) {
			if s, n := ra.Observe(off, len(buf), size); n > 0 {
				f.Prefetch(s, n)
			}
			if _, err := f.ReadAt(ctx, buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}
