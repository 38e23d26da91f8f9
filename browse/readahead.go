package browse

import "sync"

// Readahead tells a reader when and what to prefetch: once reads look
// sequential, it keeps a window of the file ahead of the reader being
// fetched, doubling the window up to MaxWindow as the reader keeps going.
// Reads that jump elsewhere reset it, so random readers fetch only what
// they ask for. The zero value is ready; it is safe for concurrent use.
type Readahead struct {
	mu     sync.Mutex
	next   int64 // where a sequential reader reads next
	ahead  int64 // prefetched up to here
	window int64
	seen   bool
}

const (
	// MinWindow is the first prefetch window of a sequential reader.
	MinWindow = 4 << 20
	// MaxWindow bounds the window: 8 GETs of 8 MiB in flight, which is
	// what it takes to keep up with a local S3 server; the memory cache's
	// 128 MiB leaves room for two such readers.
	MaxWindow = 64 << 20
	// slack: the kernel issues a sequential reader's requests
	// concurrently, so they arrive a little out of order.
	slack = 2 << 20
)

// Observe records a read of n bytes at off of a file of size bytes and
// returns the range to prefetch now (length 0 for none).
func (r *Readahead) Observe(off int64, n int, size int64) (start, length int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := off + int64(n)
	sequential := off >= r.next-slack && off <= r.next+slack && (r.seen || off == 0)
	r.seen = true
	if !sequential {
		r.next, r.ahead, r.window = end, end, 0
		return 0, 0
	}
	r.next = max(r.next, end)
	r.ahead = max(r.ahead, end)
	if r.window == 0 {
		r.window = MinWindow
	}
	if r.ahead >= size || r.ahead-end >= r.window/2 {
		return 0, 0
	}
	start = r.ahead
	length = min(end+r.window, size) - start
	r.ahead = start + length
	r.window = min(2*r.window, MaxWindow)
	return start, length
}
