package cache

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func frame(seed uint64, n int) ([]byte, uint32) {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, crc32.Checksum(b, castagnoli)
}

func key(i int) Key { return Key{NS: "0123abcd", ID: 5, Seq: uint64(i), Off: uint64(i) * 1000} }

func open(t *testing.T, dir string, limit int64) *Cache {
	t.Helper()
	c, err := Open(dir, limit, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.Flush()
	return c
}

func TestPutGet(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<30)
	raw, crc := frame(1, 5000)
	if _, ok := c.Get(key(1), len(raw), crc); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Put(key(1), raw, crc)
	c.Flush()
	got, ok := c.Get(key(1), len(raw), crc)
	if !ok || !bytes.Equal(got, raw) {
		t.Fatalf("get after put: %v", ok)
	}
	if _, ok := c.Get(key(1), len(raw), crc^1); ok {
		t.Error("hit with another crc")
	}
	if _, ok := c.Get(key(1), len(raw)-1, crc); ok {
		t.Error("hit with another length")
	}
	if _, ok := c.Get(Key{NS: "../../etc", ID: 5}, 1, 0); ok {
		t.Error("hit with a path namespace")
	}
	c.Close()
	// It survives a reopen.
	c2 := open(t, dir, 1<<30)
	if got, ok := c2.Get(key(1), len(raw), crc); !ok || !bytes.Equal(got, raw) {
		t.Fatal("entry lost on reopen")
	}
	if s := c2.Stats(); s.Used != int64(len(raw)+headerLen(len(raw))) {
		t.Errorf("reopened cache counts %d bytes, want %d", s.Used, len(raw)+headerLen(len(raw)))
	}
}

// TestDamagedEntry: a torn or corrupted entry is a miss, and removed.
func TestDamagedEntry(t *testing.T) {
	c := open(t, t.TempDir(), 1<<30)
	raw, crc := frame(2, 70000)
	for name, damage := range map[string]func(b []byte) []byte{
		"flipped": func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"torn":    func(b []byte) []byte { return b[:len(b)-100] },
		"header":  func(b []byte) []byte { b[0] = 'X'; return b },
		"empty":   func(b []byte) []byte { return nil },
	} {
		c.Put(key(2), raw, crc)
		c.Flush()
		p, _ := key(2).path(c.root)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, damage(b), 0o600)
		if _, ok := c.Get(key(2), len(raw), crc); ok {
			t.Errorf("%s entry: hit", name)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s entry not removed", name)
		}
	}
}

// TestEvictLRU: past the limit, the least recently used entries go.
func TestEvictLRU(t *testing.T) {
	dir := t.TempDir()
	const n, size = 10, 10000
	c := open(t, dir, int64(n*(size+headerLen(size)))) // room for exactly n
	crcs := make([]uint32, 2*n)
	old := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		var raw []byte
		raw, crcs[i] = frame(uint64(i), size)
		c.Put(key(i), raw, crcs[i])
		c.Flush()
		p, _ := key(i).path(c.root)
		os.Chtimes(p, old.Add(time.Duration(i)*time.Second), old.Add(time.Duration(i)*time.Second))
	}
	// A hit on entry 0 makes it the most recent.
	if _, ok := c.Get(key(0), size, crcs[0]); !ok {
		t.Fatal("miss")
	}
	for i := n; i < n+3; i++ {
		var raw []byte
		raw, crcs[i] = frame(uint64(i), size)
		c.Put(key(i), raw, crcs[i])
		c.Flush()
	}
	c.Flush()
	if _, ok := c.Get(key(0), size, crcs[0]); !ok {
		t.Error("the recently used entry 0 was evicted")
	}
	for i := 1; i <= 4; i++ {
		if _, ok := c.Get(key(i), size, crcs[i]); ok {
			t.Errorf("old entry %d survived", i)
		}
	}
	for i := n; i < n+3; i++ {
		if _, ok := c.Get(key(i), size, crcs[i]); !ok {
			t.Errorf("new entry %d missing", i)
		}
	}
	if used := c.Stats().Used; used > int64(n*(size+headerLen(size))) {
		t.Errorf("%d bytes used, over the limit", used)
	}
}

// TestShared: two caches (as two processes would) fill, read and evict
// one directory at once while files also vanish under them: every hit
// returns the right bytes.
func TestShared(t *testing.T) {
	dir := t.TempDir()
	const size = 4000
	a := open(t, dir, int64(30*(size+headerLen(size))))
	b := open(t, dir, int64(30*(size+headerLen(size))))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g, c := range []*Cache{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 2000; i++ {
				k := r.IntN(60)
				raw, crc := frame(uint64(k), size)
				switch r.IntN(4) {
				case 0:
					c.Put(key(k), raw, crc)
				case 1:
					p, _ := key(k).path(c.root)
					os.Remove(p)
				default:
					if got, ok := c.Get(key(k), size, crc); ok && !bytes.Equal(got, raw) {
						errs <- fmt.Errorf("entry %d: wrong bytes", k)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	a.Flush()
	b.Flush()
	var total int64
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	if total > int64(2*30*(size+headerLen(size))) {
		t.Errorf("cache holds %d bytes, far over its limit", total)
	}
}

// TestStaleTemp: temporary files of a writer that died are removed.
func TestStaleTemp(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<30)
	tmp := filepath.Join(c.root, "0123abcd", ".tmp-123")
	os.MkdirAll(filepath.Dir(tmp), 0o700)
	os.WriteFile(tmp, []byte("half"), 0o600)
	old := time.Now().Add(-2 * staleTemp)
	os.Chtimes(tmp, old, old)
	c.evictNow()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Error("stale temporary file kept")
	}
}

func TestNilCache(t *testing.T) {
	var c *Cache
	c.Put(key(1), []byte("x"), 0)
	if _, ok := c.Get(key(1), 1, 0); ok {
		t.Error("nil cache hit")
	}
	c.Flush()
	c.Close()
}

// FuzzDecodeEntry: whatever is in a cache file, decodeEntry returns the
// bytes the caller asked for or an error, never panics.
func FuzzDecodeEntry(f *testing.F) {
	raw, crc := frame(1, 100)
	f.Add(encodeEntry(raw, crc), 100, crc)
	f.Add([]byte("SFC2"), 0, uint32(0))
	f.Add(encodeEntry(nil, 0), 0, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, rawLen int, sum uint32) {
		got, err := decodeEntry(b, rawLen, sum)
		if err == nil && (len(got) != rawLen || crc32.Checksum(got, castagnoli) != sum) {
			t.Fatalf("accepted an entry that is not the frame asked for")
		}
	})
}

// TestReadAt: a range of a cached frame is read and checked block by
// block; a damaged block is a miss, and the entry is removed.
func TestReadAt(t *testing.T) {
	c := open(t, t.TempDir(), 1<<30)
	raw, sum := frame(3, 5*blockSize+123)
	c.Put(key(3), raw, sum)
	c.Flush()
	for _, r := range [][2]int{{0, 10}, {blockSize - 5, 10}, {3 * blockSize, blockSize}, {5 * blockSize, 123}, {0, len(raw)}} {
		dst := make([]byte, r[1])
		if !c.ReadAt(key(3), len(raw), sum, dst, r[0]) || !bytes.Equal(dst, raw[r[0]:r[0]+r[1]]) {
			t.Fatalf("ReadAt(%d, %d)", r[0], r[1])
		}
	}
	if c.ReadAt(key(3), len(raw), sum^1, make([]byte, 10), 0) {
		t.Error("hit with another crc")
	}
	p, _ := key(3).path(c.root)
	b, _ := os.ReadFile(p)
	b[headerLen(len(raw))+2*blockSize+7] ^= 1
	os.WriteFile(p, b, 0o600)
	if !c.ReadAt(key(3), len(raw), sum, make([]byte, 10), 0) {
		t.Error("a sound block of a damaged entry missed")
	}
	if c.ReadAt(key(3), len(raw), sum, make([]byte, 10), 2*blockSize) {
		t.Error("a damaged block hit")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("damaged entry not removed")
	}
}

// TestImage: an image appears once every byte is written, in any order;
// a random writer's image is dropped; an unfinished one leaves nothing.
func TestImage(t *testing.T) {
	c := open(t, t.TempDir(), 1<<30)
	k := ImageKey{NS: "0123abcd", ID: 7, Version: 3}
	data, _ := frame(4, 300000)
	im := c.NewImage(k, int64(len(data)))
	for _, r := range [][2]int{{100000, 200000}, {0, 50000}, {200000, 300000}} {
		im.WriteAt(data[r[0]:r[1]], int64(r[0]))
	}
	time.Sleep(50 * time.Millisecond) // let the writer write them
	if _, ok := c.OpenImage(k, int64(len(data))); ok {
		t.Fatal("image visible before it is complete")
	}
	if im.Done() {
		t.Fatal("done with a gap")
	}
	im.WriteAt(data[50000:100000], 50000)
	im.Wait()
	f, ok := c.OpenImage(k, int64(len(data)))
	if !ok || !im.Done() {
		t.Fatal("complete image not there")
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("image differs")
	}
	if c.NewImage(k, int64(len(data))) != nil {
		t.Error("a second image of the same version started")
	}

	k2 := ImageKey{NS: "0123abcd", ID: 7, Version: 4}
	im = c.NewImage(k2, 1<<20)
	for i := 0; i < 2*maxImagePieces+2; i += 2 {
		im.WriteAt([]byte{1}, int64(i*100))
	}
	im.Abort()
	im.Wait()
	k3 := ImageKey{NS: "0123abcd", ID: 7, Version: 5}
	im = c.NewImage(k3, 1000)
	im.Abort()
	im.Wait()
	left, _ := filepath.Glob(filepath.Join(c.root, "0123abcd", "*", ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
	if _, ok := c.OpenImage(k2, 1<<20); ok {
		t.Error("a random writer's image appeared")
	}
}
