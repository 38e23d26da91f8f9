package cache

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Key names a frame: NS is the tree (lowercase hex, from browse), ID the
// inode, Seq the data object and Off the frame's offset in it.
type Key struct {
	NS       string
	ID       uint64
	Seq, Off uint64
}

// path returns the entry's file name under root, or false for a key
// whose namespace is not plain hex (it is never taken from a remote, but
// a path must not be built from anything else).
func (k Key) path(root string) (string, bool) {
	if len(k.NS) == 0 || len(k.NS) > 64 {
		return "", false
	}
	for _, c := range k.NS {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return filepath.Join(root, k.NS, fmt.Sprintf("%016x", k.ID), fmt.Sprintf("%016x-%016x", k.Seq, k.Off)), true
}

// Options tunes a Cache; the zero value works.
type Options struct {
	// QueueBytes bounds the frames waiting to be written; more are
	// dropped. Default 64 MiB.
	QueueBytes int64
	// Logger receives eviction summaries and write failures; nil
	// discards them.
	Logger *log.Logger
}

// Cache is a directory of frames. A nil *Cache is a cache that never
// hits and stores nothing.
type Cache struct {
	root  string // DIR/v1
	limit int64
	opts  Options

	used     atomic.Int64 // bytes, as far as this process knows
	queued   atomic.Int64 // bytes waiting in q
	pending  atomic.Int64 // entries waiting in q or being written
	evicting atomic.Bool
	q        chan job
	wg       sync.WaitGroup
	closeMu  sync.RWMutex
	closed   bool

	imagesMu sync.Mutex
	building map[*Image]bool // images being built, for Close

	hits, misses, bad, drops, writes, evicted atomic.Int64
	images, imageHits                         atomic.Int64
}

type job struct {
	path string
	body []byte
	raw  int // raw bytes, for the queue's accounting
}

// writers is the number of goroutines writing entries.
const writers = 2

// touchAfter: a hit refreshes an entry's time (its LRU position) only if
// it is older than this, to spare a system call per hit.
const touchAfter = time.Minute

// Open opens (creating it) the cache in dir, limited to limit bytes. It
// fails if dir cannot be created or written.
func Open(dir string, limit int64, opts Options) (*Cache, error) {
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 64 << 20
	}
	root := filepath.Join(dir, "v1")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("cache dir %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(root, ".tmp-probe-*")
	if err != nil {
		return nil, fmt.Errorf("cache dir %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	c := &Cache{root: root, limit: limit, opts: opts, q: make(chan job, 1024), building: map[*Image]bool{}}
	for range writers {
		c.wg.Add(1)
		go c.writer()
	}
	c.evicting.Store(true)
	go func() { // learn the size of what is there, and trim it
		defer c.evicting.Store(false)
		c.evictNow()
	}()
	return c, nil
}

// Dir returns the directory the cache was opened in.
func (c *Cache) Dir() string { return filepath.Dir(c.root) }

// Get returns the raw bytes of frame k if the cache holds an entry for
// it of rawLen bytes whose crc32c is sum. A damaged entry is removed and
// counts as a miss.
func (c *Cache) Get(k Key, rawLen int, sum uint32) ([]byte, bool) {
	if c == nil || rawLen > maxEntryRaw {
		return nil, false
	}
	f, p, st, ok := c.open(k)
	if !ok {
		return nil, false
	}
	defer f.Close()
	if st.Size() > int64(headerLen(maxEntryRaw)+maxEntryRaw) || st.Size() < 20 {
		c.drop(p, st)
		return nil, false
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		c.drop(p, st)
		return nil, false
	}
	raw, err := decodeEntry(b, rawLen, sum)
	if !c.verdict(p, st, err) {
		return nil, false
	}
	return raw, true
}

// ReadAt fills dst with the bytes at off of frame k (rawLen bytes,
// crc32c sum), reading and checking only the 64 KiB blocks that hold
// them: a small read of a cached frame costs a small read. It reports
// false on a miss; a damaged entry is removed.
func (c *Cache) ReadAt(k Key, rawLen int, sum uint32, dst []byte, off int) bool {
	if c == nil || rawLen > maxEntryRaw || off < 0 || off+len(dst) > rawLen {
		return false
	}
	f, p, st, ok := c.open(k)
	if !ok {
		return false
	}
	defer f.Close()
	hl := headerLen(rawLen)
	if st.Size() != int64(hl+rawLen) {
		// Another frame's entry (or a damaged one): Get tells which.
		c.misses.Add(1)
		return false
	}
	hb := make([]byte, hl)
	if _, err := f.ReadAt(hb, 0); err != nil {
		c.drop(p, st)
		return false
	}
	h, err := decodeHeader(hb)
	if err == nil && (h.rawLen != rawLen || h.sum != sum) {
		err = errOther
	}
	if err != nil {
		return c.verdict(p, st, err)
	}
	first, last := off/blockSize, (off+len(dst)-1)/blockSize
	lo, hi := first*blockSize, min((last+1)*blockSize, rawLen)
	buf := make([]byte, hi-lo)
	if _, err := f.ReadAt(buf, int64(hl+lo)); err != nil {
		c.drop(p, st)
		return false
	}
	for i := first; i <= last; i++ {
		b := buf[(i-first)*blockSize : min((i-first+1)*blockSize, len(buf))]
		if crc(b) != h.blocks[i] {
			c.drop(p, st)
			return false
		}
	}
	copy(dst, buf[off-lo:])
	c.touch(p, st)
	c.hits.Add(1)
	return true
}

// open opens the entry of k, if there is one.
func (c *Cache) open(k Key) (*os.File, string, os.FileInfo, bool) {
	p, ok := k.path(c.root)
	if !ok {
		return nil, "", nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		c.misses.Add(1)
		return nil, "", nil, false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		c.misses.Add(1)
		return nil, "", nil, false
	}
	return f, p, st, true
}

// verdict counts the outcome of decoding an entry: a hit (refreshing its
// time), a sound entry of another frame (a miss, left alone) or a
// damaged one (a miss, removed).
func (c *Cache) verdict(p string, st os.FileInfo, err error) bool {
	switch {
	case err == nil:
		c.touch(p, st)
		c.hits.Add(1)
		return true
	case err == errOther:
		c.misses.Add(1)
	default:
		c.drop(p, st)
	}
	return false
}

// touch makes an entry recently used, at most once per touchAfter.
func (c *Cache) touch(p string, st os.FileInfo) {
	if time.Since(st.ModTime()) > touchAfter {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
}

// drop removes a damaged entry, unless another process has replaced it
// meanwhile.
func (c *Cache) drop(p string, read os.FileInfo) {
	c.misses.Add(1)
	c.bad.Add(1)
	if now, err := os.Stat(p); err == nil && read != nil && os.SameFile(now, read) {
		os.Remove(p)
	}
}

// Put stores frame k's raw bytes (whose crc32c is crc) in the
// background. It never blocks: when the write queue is full the entry is
// dropped.
func (c *Cache) Put(k Key, raw []byte, sum uint32) {
	if c == nil || len(raw) > maxEntryRaw {
		return
	}
	p, ok := k.path(c.root)
	if !ok {
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return
	}
	if c.queued.Load()+int64(len(raw)) > c.opts.QueueBytes {
		c.drops.Add(1)
		return
	}
	c.queued.Add(int64(len(raw)))
	c.pending.Add(1)
	select {
	case c.q <- job{path: p, body: encodeEntry(raw, sum), raw: len(raw)}:
	default:
		c.queued.Add(-int64(len(raw)))
		c.pending.Add(-1)
		c.drops.Add(1)
	}
}

func (c *Cache) writer() {
	defer c.wg.Done()
	for j := range c.q {
		if err := c.write(j); err != nil && c.opts.Logger != nil {
			c.opts.Logger.Printf("cache: %v", err)
		}
		c.queued.Add(-int64(j.raw))
		c.pending.Add(-1)
	}
}

// write puts an entry in place atomically: a temporary file in the
// entry's directory, renamed over the name.
func (c *Cache) write(j job) error {
	if _, err := os.Stat(j.path); err == nil {
		return nil // another reader (or process) got there first
	}
	dir := filepath.Dir(j.path)
	var f *os.File
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			continue
		}
		// An eviction may remove the directory between the two calls.
		if f, err = os.CreateTemp(dir, ".tmp-*"); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(j.body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), j.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	c.writes.Add(1)
	if c.used.Add(int64(len(j.body))) > c.limit {
		c.evict()
	}
	return nil
}

// Flush waits until every entry queued so far is written (or dropped).
func (c *Cache) Flush() {
	if c == nil {
		return
	}
	for c.pending.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	for c.evicting.Load() {
		time.Sleep(time.Millisecond)
	}
}

// Close writes what is queued and stops the writers.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.q)
	}
	c.closeMu.Unlock()
	c.wg.Wait()
	// Images still being built are finished if their bytes are queued,
	// else dropped.
	c.imagesMu.Lock()
	var ims []*Image
	for im := range c.building {
		ims = append(ims, im)
	}
	c.imagesMu.Unlock()
	for _, im := range ims {
		im.Abort()
		im.Wait()
	}
	for c.evicting.Load() {
		time.Sleep(time.Millisecond)
	}
}

// Stats counts what the cache did since it was opened.
type Stats struct {
	Dir     string `json:"dir"`
	Limit   int64  `json:"limit_bytes"`
	Used    int64  `json:"used_bytes"` // as far as this process knows
	Hits    int64  `json:"hits"`
	Misses  int64  `json:"misses"`
	Bad     int64  `json:"bad"` // damaged entries found (and removed)
	Writes  int64  `json:"writes"`
	Drops   int64  `json:"drops"` // entries not written: queue full
	Evicted int64  `json:"evicted"`
	// Images built (complete copies of a file version, for passthrough)
	// and opened.
	Images    int64 `json:"images"`
	ImageHits int64 `json:"image_hits"`
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{Dir: c.Dir(), Limit: c.limit, Used: c.used.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(),
		Bad: c.bad.Load(), Writes: c.writes.Load(), Drops: c.drops.Load(), Evicted: c.evicted.Load(),
		Images: c.images.Load(), ImageHits: c.imageHits.Load()}
}
