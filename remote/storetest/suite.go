package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/remote"
)

// Config adjusts the suite to a backend.
type Config struct {
	// InMemory says the store keeps objects in process memory (remote/mem):
	// the large-object test then uses a small object and does not bound heap
	// growth.
	InMemory bool
	// LargeSize is the size of the large object; default 96 MiB (more than
	// 64 MiB, so that a backend buffering whole objects fails the heap bound).
	LargeSize int64
	// MaxHeapGrowth bounds how far the heap may grow while the large object
	// is put or read back; default LargeSize/2.
	MaxHeapGrowth int64
}

// Run runs the conformance suite with the default Config.
func Run(t *testing.T, newStore func(t *testing.T) remote.Store) {
	RunConfig(t, Config{}, newStore)
}

// RunConfig runs the conformance suite. Quick tests run in parallel; the
// large-object test runs alone afterwards so that its heap measurement is
// not disturbed.
func RunConfig(t *testing.T, cfg Config, newStore func(t *testing.T) remote.Store) {
	if cfg.LargeSize == 0 {
		cfg.LargeSize = 96 << 20
		if cfg.InMemory {
			cfg.LargeSize = 9<<20 + 7
		}
	}
	if cfg.MaxHeapGrowth == 0 {
		cfg.MaxHeapGrowth = cfg.LargeSize / 2
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s remote.Store)
	}{
		{"PutGet", testPutGet},
		{"Empty", testEmpty},
		{"Ranges", testRanges},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"ShortBody", testShortBody},
		{"RewindsBody", testRewindsBody},
		{"Cancelled", testCancelled},
		{"List", testList},
		{"ListMany", testListMany},
		{"ListStop", testListStop},
		{"KeyNames", testKeyNames},
		{"InvalidKeys", testInvalidKeys},
		{"ParentKeys", testParentKeys},
		{"IfAbsent", testIfAbsent},
		{"ConcurrentKeys", testConcurrentKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"MultipartReaderAt", testMultipartReaderAt},
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, newStore(t))
			})
		}
	})
	t.Run("Large", func(t *testing.T) { testLarge(t, cfg, newStore(t)) })
}

// --- helpers -----------------------------------------------------------

func put(t *testing.T, s remote.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), remote.PutOptions{}); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func get(t *testing.T, s remote.Store, key string, off, length int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, off, length)
	if err != nil {
		t.Fatalf("get %q [%d,+%d): %v", key, off, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("get %q [%d,+%d): reading: %v", key, off, length, err)
	}
	return b
}

func mustNotFound(t *testing.T, s remote.Store, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, key); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("stat %q: got %v, want ErrNotFound", key, err)
	}
	rc, err := s.Get(ctx, key, 0, -1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("get %q: got %v, want ErrNotFound", key, err)
	}
}

func listKeys(t *testing.T, s remote.Store, prefix string) []string {
	t.Helper()
	keys := []string{}
	err := s.List(context.Background(), prefix, func(oi remote.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func data(seed, n int64) []byte { return NewGen(seed, n).Bytes(0, n) }

func short(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%d bytes %x...", len(b), b[:16])
	}
	return fmt.Sprintf("%q", b)
}

func equal(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got %s, want %s", what, short(got), short(want))
	}
}

// --- basic operations --------------------------------------------------

func testPutGet(t *testing.T, s remote.Store) {
	want := data(1, 100_003)
	put(t, s, "dir/sub/obj", want)
	equal(t, "get", get(t, s, "dir/sub/obj", 0, -1), want)

	oi, err := s.Stat(context.Background(), "dir/sub/obj")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Key != "dir/sub/obj" || oi.Size != int64(len(want)) || oi.ModTime.IsZero() {
		t.Errorf("stat: got %+v, want key dir/sub/obj, size %d, a modification time", oi, len(want))
	}
	if s.String() == "" {
		t.Error("String() is empty")
	}
}

func testEmpty(t *testing.T, s remote.Store) {
	put(t, s, "empty", nil)
	equal(t, "get", get(t, s, "empty", 0, -1), []byte{})
	equal(t, "get past end", get(t, s, "empty", 5, 10), []byte{})
	oi, err := s.Stat(context.Background(), "empty")
	if err != nil || oi.Size != 0 {
		t.Errorf("stat: got %+v, %v; want size 0", oi, err)
	}
}

func testRanges(t *testing.T, s remote.Store) {
	const n = 10_007
	want := data(2, n)
	put(t, s, "r", want)
	for _, c := range []struct{ off, length int64 }{
		{0, -1}, {0, 1}, {1, 1}, {7, 13}, {4093, 4099}, {n - 1, 1}, {n - 1, -1},
		{3, -1}, {0, n}, {0, 0}, {17, 0},
		{n - 5, 100},                  // past the end: cut short
		{0, n + 1},                    // one past the end
		{n, 10},                       // starts at the end: empty
		{n, -1},                       // ditto, open-ended
		{n + 1000, 3}, {n + 1000, -1}, // starts past the end: empty
	} {
		end := int64(n)
		if c.length >= 0 {
			end = min(c.off+c.length, n)
		}
		exp := []byte{}
		if c.off < n {
			exp = want[c.off:end]
		}
		equal(t, fmt.Sprintf("range [%d,+%d)", c.off, c.length), get(t, s, "r", c.off, c.length), exp)
	}
}

func testMissing(t *testing.T, s remote.Store) {
	mustNotFound(t, s, "nope")
	mustNotFound(t, s, "no/such/dir/obj")
	rc, err := s.Get(context.Background(), "nope", 10, 5)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("ranged get of a missing key: got %v, want ErrNotFound", err)
	}
	if remote.IsPermanent(err) != true {
		t.Errorf("not-found error %v is not classified permanent", err)
	}
}

func testOverwrite(t *testing.T, s remote.Store) {
	put(t, s, "o", data(3, 5000))
	put(t, s, "o", data(4, 100)) // shorter: no stale tail may remain
	equal(t, "after shrinking overwrite", get(t, s, "o", 0, -1), data(4, 100))
	put(t, s, "o", data(5, 7000))
	equal(t, "after growing overwrite", get(t, s, "o", 0, -1), data(5, 7000))
	if oi, err := s.Stat(context.Background(), "o"); err != nil || oi.Size != 7000 {
		t.Errorf("stat: %+v, %v", oi, err)
	}
}

func testDelete(t *testing.T, s remote.Store) {
	ctx := context.Background()
	put(t, s, "d/x/1", []byte("one"))
	put(t, s, "d/x/2", []byte("two"))
	if err := s.Delete(ctx, "d/x/1"); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, s, "d/x/1")
	equal(t, "sibling survives", get(t, s, "d/x/2", 0, -1), []byte("two"))
	for _, k := range []string{"d/x/1", "never", "d/x", "d", "d/x/2/deeper"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("delete of missing %q: %v", k, err)
		}
	}
	equal(t, "deleting a parent key touches nothing", get(t, s, "d/x/2", 0, -1), []byte("two"))
	if err := s.Delete(ctx, "d/x/2"); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("store not empty after deleting everything: %q", keys)
	}
	// The key can be used again, also as a parent.
	put(t, s, "d/x", []byte("file now"))
	equal(t, "reuse", get(t, s, "d/x", 0, -1), []byte("file now"))
}

func testShortBody(t *testing.T, s remote.Store) {
	ctx := context.Background()
	err := s.Put(ctx, "short", bytes.NewReader([]byte("0123456789")), 20, remote.PutOptions{})
	if err == nil {
		t.Fatal("put with a body shorter than size succeeded")
	}
	mustNotFound(t, s, "short")

	put(t, s, "short2", []byte("original"))
	if err := s.Put(ctx, "short2", bytes.NewReader([]byte("abc")), 4, remote.PutOptions{}); err == nil {
		t.Fatal("put with a body shorter than size succeeded")
	}
	equal(t, "failed overwrite leaves the object", get(t, s, "short2", 0, -1), []byte("original"))

	// A longer body is cut to size.
	if err := s.Put(ctx, "long", bytes.NewReader([]byte("0123456789")), 4, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	equal(t, "body longer than size", get(t, s, "long", 0, -1), []byte("0123"))
}

func testRewindsBody(t *testing.T, s remote.Store) {
	want := data(6, 3000)
	r := bytes.NewReader(want)
	if _, err := io.CopyN(io.Discard, r, 1234); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "rw", r, int64(len(want)), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	equal(t, "put from a body not at its start", get(t, s, "rw", 0, -1), want)
}

func testCancelled(t *testing.T, s remote.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Put(ctx, "c", bytes.NewReader([]byte("x")), 1, remote.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: got %v, want context.Canceled", err)
	}
	if !remote.IsPermanent(err) {
		t.Errorf("cancelled put: %v is not permanent, a retry loop would spin", err)
	}
	mustNotFound(t, s, "c")
}

// --- listing -----------------------------------------------------------

func testList(t *testing.T, s remote.Store) {
	// The keys around "p/d/" sort on both sides of '/' (0x2f): a backend
	// that walks directories must still return them in key order.
	keys := []string{
		"p/d/1", "p/d/2/x", "p/d.txt", "p/d-x", "p/d x", "p/d0", "p/dz",
		"p/a", "p/aa/x", "q", "q0/r",
	}
	for i, k := range keys {
		put(t, s, k, data(int64(i), int64(i)))
	}
	all := []string{"p/a", "p/aa/x", "p/d x", "p/d-x", "p/d.txt", "p/d/1", "p/d/2/x", "p/d0", "p/dz", "q", "q0/r"}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"p/", all[:9]},
		{"p/d", all[2:9]},
		{"p/d/", []string{"p/d/1", "p/d/2/x"}},
		{"p/d/2", []string{"p/d/2/x"}},
		{"p/d.", []string{"p/d.txt"}},
		{"p/a", []string{"p/a", "p/aa/x"}},
		{"p/a/", nil},
		{"p/d/1", []string{"p/d/1"}},
		{"p/d/1/", nil},
		{"q", []string{"q", "q0/r"}},
		{"x", nil},
		{"p//", nil},
		{"../", nil},
	} {
		got := listKeys(t, s, c.prefix)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("list %q:\n got %q\nwant %q", c.prefix, got, c.want)
		}
	}
	// Sizes are reported.
	err := s.List(context.Background(), "p/d0", func(oi remote.ObjectInfo) error {
		if oi.Size != 5 || oi.ModTime.IsZero() {
			t.Errorf("list info %+v, want size 5 and a modification time", oi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListMany(t *testing.T, s remote.Store) {
	const n = 1234 // more than one page of an S3 listing (1000)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/k%05d", i)
	}
	parallel(t, 16, n, func(i int) error {
		return s.Put(context.Background(), keys[i], bytes.NewReader([]byte{byte(i)}), 1, remote.PutOptions{})
	})
	put(t, s, "many0", []byte("outside"))
	put(t, s, "man", []byte("outside"))

	got := listKeys(t, s, "many/")
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("list many/: got %d keys, want %d in order", len(got), n)
	}
	if got := listKeys(t, s, "many/k010"); len(got) != 100 || got[0] != "many/k01000" || got[99] != "many/k01099" {
		t.Errorf("list many/k010: got %d keys", len(got))
	}
	if got := listKeys(t, s, "many"); len(got) != n+1 || got[n] != "many0" {
		t.Errorf("list many: got %d keys, want %d ending in many0", len(got), n+1)
	}
}

func testListStop(t *testing.T, s remote.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("s/%d", i), []byte("x"))
	}
	stop := errors.New("enough")
	var seen []string
	err := s.List(context.Background(), "s/", func(oi remote.ObjectInfo) error {
		seen = append(seen, oi.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("list: got %v, want the error returned by fn", err)
	}
	if len(seen) != 2 {
		t.Errorf("fn called %d times after asking to stop at 2", len(seen))
	}
}

// --- keys --------------------------------------------------------------

func testKeyNames(t *testing.T, s remote.Store) {
	keys := []string{
		"with space/file name.txt",
		"ünïcødé/文件/データ.dat",
		"emoji 🎉.bin",
		"plus+and=amp&per%cent",
		"quote'\"#?!$@:;,~*()[]{}<>|^`",
		"a.b-c_d",
		"...dots", "x/...", "x/.hidden",
		strings.Repeat("n", 255) + "/" + strings.Repeat("é", 127),
		strings.Repeat("k/", 450) + "k", // 901 bytes: room for a store prefix within 1024
	}
	for i, k := range keys {
		put(t, s, k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		equal(t, "get "+k, get(t, s, k, 0, -1), []byte(fmt.Sprint(i)))
	}
	got := listKeys(t, s, "")
	want := append([]string(nil), keys...)
	sortStrings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("list:\n got %q\nwant %q", got, want)
	}
}

func testInvalidKeys(t *testing.T, s remote.Store) {
	ctx := context.Background()
	for _, k := range []string{
		"", "/", "/abs", "trailing/", "a//b", ".", "..", "../up", "a/../b", "a/./b", "./a",
		"nul\x00", "new\nline", "tab\tx", "del\x7f", "back\\slash", "\xff\xfe",
		strings.Repeat("a", 256), strings.Repeat("a/", 512) + "a",
		remote.ReservedPrefix + "tmp", "dir/" + remote.ReservedPrefix + "x",
	} {
		check := func(op string, err error) {
			if !errors.Is(err, remote.ErrInvalidKey) {
				t.Errorf("%s %q: got %v, want ErrInvalidKey", op, k, err)
			}
		}
		check("put", s.Put(ctx, k, bytes.NewReader([]byte("x")), 1, remote.PutOptions{}))
		rc, err := s.Get(ctx, k, 0, -1)
		if err == nil {
			rc.Close()
		}
		check("get", err)
		_, err = s.Stat(ctx, k)
		check("stat", err)
		check("delete", s.Delete(ctx, k))
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("invalid keys left objects behind: %q", keys)
	}
}

// testParentKeys: "a" and "a/b" cannot both exist in a backend that stores
// keys as paths. Such a backend must refuse the second with ErrKeyConflict
// and leave the first intact; others store both.
func testParentKeys(t *testing.T, s remote.Store) {
	ctx := context.Background()
	put(t, s, "a", []byte("file a"))
	err := s.Put(ctx, "a/b", bytes.NewReader([]byte("file a/b")), 8, remote.PutOptions{})
	switch {
	case err == nil:
		equal(t, "a/b", get(t, s, "a/b", 0, -1), []byte("file a/b"))
	case errors.Is(err, remote.ErrKeyConflict):
		mustNotFound(t, s, "a/b")
	default:
		t.Errorf("put a/b next to a: got %v, want success or ErrKeyConflict", err)
	}
	equal(t, "a", get(t, s, "a", 0, -1), []byte("file a"))

	put(t, s, "c/d/e", []byte("file c/d/e"))
	for _, k := range []string{"c", "c/d"} {
		for _, opts := range []remote.PutOptions{{IfAbsent: true}, {}} {
			err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1, opts)
			switch {
			case err == nil:
				equal(t, k, get(t, s, k, 0, -1), []byte("x"))
			case errors.Is(err, remote.ErrKeyConflict):
				mustNotFound(t, s, k)
				if !remote.IsPermanent(err) {
					t.Errorf("conflict %v is not permanent", err)
				}
			default:
				t.Errorf("put %s (%+v) above c/d/e: got %v, want success or ErrKeyConflict", k, opts, err)
			}
		}
	}
	equal(t, "c/d/e", get(t, s, "c/d/e", 0, -1), []byte("file c/d/e"))
}

func testIfAbsent(t *testing.T, s remote.Store) {
	ctx := context.Background()
	ifAbsent := remote.PutOptions{IfAbsent: true}
	if err := s.Put(ctx, "lease", bytes.NewReader([]byte("first")), 5, ifAbsent); err != nil {
		t.Fatal(err)
	}
	err := s.Put(ctx, "lease", bytes.NewReader([]byte("second")), 6, ifAbsent)
	if !errors.Is(err, remote.ErrExists) {
		t.Fatalf("second conditional put: got %v, want ErrExists", err)
	}
	if !remote.IsPermanent(err) {
		t.Errorf("ErrExists error %v is not permanent", err)
	}
	equal(t, "after refused put", get(t, s, "lease", 0, -1), []byte("first"))

	// After a delete the key is free again.
	if err := s.Delete(ctx, "lease"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "lease", bytes.NewReader([]byte("third")), 5, ifAbsent); err != nil {
		t.Fatalf("conditional put after delete: %v", err)
	}

	// Racing conditional puts: exactly one wins.
	const n = 8
	errs := make([]error, n)
	parallel(t, n, n, func(i int) error {
		b := []byte(fmt.Sprintf("racer %d", i))
		errs[i] = s.Put(ctx, "race", bytes.NewReader(b), int64(len(b)), ifAbsent)
		return nil
	})
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("racers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, remote.ErrExists):
			t.Errorf("racer %d: got %v, want ErrExists", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no racer won")
	}
	equal(t, "race winner", get(t, s, "race", 0, -1), []byte(fmt.Sprintf("racer %d", won)))
}

// --- concurrency -------------------------------------------------------

func testConcurrentKeys(t *testing.T, s remote.Store) {
	const n = 24
	parallel(t, 8, n, func(i int) error {
		b := data(int64(100+i), int64(1000+i*37))
		return s.Put(context.Background(), fmt.Sprintf("cc/%02d/obj", i), bytes.NewReader(b), int64(len(b)), remote.PutOptions{})
	})
	for i := range n {
		equal(t, fmt.Sprint(i), get(t, s, fmt.Sprintf("cc/%02d/obj", i), 0, -1), data(int64(100+i), int64(1000+i*37)))
	}
}

// testConcurrentSameKey overwrites one key from several writers while
// readers read it: every read sees one whole version, never a mix.
func testConcurrentSameKey(t *testing.T, s remote.Store) {
	const versions = 4
	const size = 256<<10 + 3
	sums := map[[32]byte]bool{}
	for v := range versions {
		sums[sha256.Sum256(data(int64(200+v), size))] = true
	}
	put(t, s, "same", data(200, size))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readErr := make(chan error, 2)
	for range 2 {
		go func() {
			for ctx.Err() == nil {
				rc, err := s.Get(ctx, "same", 0, -1)
				if err != nil {
					if ctx.Err() == nil {
						readErr <- err
						return
					}
					break
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err == nil && !sums[sha256.Sum256(b)] {
					readErr <- fmt.Errorf("read a mix of versions (%d bytes)", len(b))
					return
				}
			}
			readErr <- nil
		}()
	}
	parallel(t, versions, versions*5, func(i int) error {
		b := data(int64(200+i%versions), size)
		return s.Put(ctx, "same", bytes.NewReader(b), size, remote.PutOptions{})
	})
	cancel()
	for range 2 {
		if err := <-readErr; err != nil {
			t.Error(err)
		}
	}
	if b := get(t, s, "same", 0, -1); !sums[sha256.Sum256(b)] {
		t.Errorf("final object is not one of the versions written (%d bytes)", len(b))
	}
}

// --- large objects -----------------------------------------------------

// testMultipartReaderAt puts a body that is also an io.ReaderAt (as an
// *os.File is) and large enough to be split into parts by S3 backends,
// then reads ranges across the part boundaries.
func testMultipartReaderAt(t *testing.T, s remote.Store) {
	const size = 20<<20 + 17
	g := NewGenAt(7, size)
	if err := s.Put(context.Background(), "big/at", g, size, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSum(t, s, "big/at", g.Gen)
	err := s.Put(context.Background(), "big/at", NewGenAt(8, size), size, remote.PutOptions{IfAbsent: true})
	if !errors.Is(err, remote.ErrExists) {
		t.Errorf("conditional put of a large object over an existing one: got %v, want ErrExists", err)
	}
	checkSum(t, s, "big/at", g.Gen)
	if err := s.Put(context.Background(), "big/new", NewGenAt(9, size), size, remote.PutOptions{IfAbsent: true}); err != nil {
		t.Errorf("conditional put of a large object: %v", err)
	}
	for _, off := range []int64{8<<20 - 5, 16<<20 - 1, size - 3} {
		equal(t, fmt.Sprint("range at ", off), get(t, s, "big/at", off, 10), g.Bytes(off, 10))
	}
}

func checkSum(t *testing.T, s remote.Store, key string, g *Gen) {
	t.Helper()
	rc, err := s.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, rc, make([]byte, 256<<10))
	if err != nil {
		t.Fatalf("reading %s back: %v", key, err)
	}
	if n != g.size || [32]byte(h.Sum(nil)) != g.Sum() {
		t.Fatalf("%s read back differs: %d bytes, want %d", key, n, g.size)
	}
}

func testLarge(t *testing.T, cfg Config, s remote.Store) {
	size := cfg.LargeSize
	g := NewGen(8, size)
	var err error
	growth := peakHeapGrowth(func() {
		err = s.Put(context.Background(), "large", g, size, remote.PutOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("put %d MiB: heap grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
	if !cfg.InMemory && int64(growth) > cfg.MaxHeapGrowth {
		t.Errorf("put of %d MiB grew the heap by %.1f MiB (bound %.1f MiB): memory scales with object size",
			size>>20, float64(growth)/(1<<20), float64(cfg.MaxHeapGrowth)/(1<<20))
	}

	growth = peakHeapGrowth(func() { checkSum(t, s, "large", g) })
	t.Logf("get %d MiB: heap grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
	if !cfg.InMemory && int64(growth) > cfg.MaxHeapGrowth {
		t.Errorf("get of %d MiB grew the heap by %.1f MiB (bound %.1f MiB)",
			size>>20, float64(growth)/(1<<20), float64(cfg.MaxHeapGrowth)/(1<<20))
	}
	if oi, err := s.Stat(context.Background(), "large"); err != nil || oi.Size != size {
		t.Errorf("stat: %+v, %v", oi, err)
	}

	// Closing a reader early must not hang or leak.
	rc, err := s.Get(context.Background(), "large", 12345, -1)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	if _, err := io.ReadFull(rc, b); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close after a partial read: %v", err)
	}
	equal(t, "partial read", b, g.Bytes(12345, 10))
}
