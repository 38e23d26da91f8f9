package posix

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/syncfs/syncfs/internal/testenv"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func WriteRead(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	for _, n := range []int{0, 1, 4095, 4096, 4097, 1 << 20, 3<<20 + 17} {
		data := randBytes(t, n)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, p); !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes that differ", n, len(got))
		}
	}
}

func AppendWrite(t *testing.T, dir string) {
	p := filepath.Join(dir, "log")
	var want []byte
	for i := 0; i < 50; i++ {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		line := []byte("line " + string(rune('a'+i%26)) + "\n")
		// A pwrite-style seek must not matter with O_APPEND.
		f.Seek(0, 0)
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
		f.Close()
		want = append(want, line...)
	}
	if got := mustRead(t, p); !bytes.Equal(got, want) {
		t.Fatalf("appends: got %q", got)
	}
}

func PwriteHoles(t *testing.T, dir string) {
	p := filepath.Join(dir, "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 10<<20+5)
	for _, off := range []int64{10 << 20, 0, 4093, 1 << 20, 5<<20 + 1} {
		b := randBytes(t, 5)
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], b)
	}
	// Rewrite bytes written long before (a solver's header update).
	hdr := randBytes(t, 100)
	f.WriteAt(hdr, 2)
	copy(want[2:], hdr)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, p); !bytes.Equal(got, want) {
		t.Fatalf("sparse file differs (len %d want %d)", len(got), len(want))
	}
}

func TruncateUpDown(t *testing.T, dir string) {
	p := filepath.Join(dir, "t")
	data := randBytes(t, 100000)
	os.WriteFile(p, data, 0o644)
	if err := os.Truncate(p, 500); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, p); !bytes.Equal(got, data[:500]) {
		t.Fatal("truncate down")
	}
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer f.Close()
	if err := f.Truncate(9000); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, data[:500]...), make([]byte, 8500)...)
	if got := mustRead(t, p); !bytes.Equal(got, want) {
		t.Fatal("truncate up must read zeros past the old end")
	}
	// O_TRUNC
	g, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("new"))
	g.Close()
	if got := mustRead(t, p); string(got) != "new" {
		t.Fatalf("O_TRUNC: %q", got)
	}
}

func Fallocate(t *testing.T, dir string) {
	p := filepath.Join(dir, "fa")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != 1<<20 {
		t.Fatalf("size after fallocate %d", st.Size())
	}
	f.WriteAt(bytes.Repeat([]byte{7}, 8192), 0)
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8192)
	f.ReadAt(got, 0)
	if !bytes.Equal(got[:4096], make([]byte, 4096)) || got[4096] != 7 {
		t.Fatal("punched hole does not read as zeros")
	}
}

func Fsync(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("x"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	d, _ := os.Open(dir)
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync of a directory: %v", err)
	}
}

func UnlinkOpenFile(t *testing.T, dir string) {
	p := filepath.Join(dir, "u")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("before"))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("after")); err != nil {
		t.Fatalf("write to unlinked open file: %v", err)
	}
	got := make([]byte, 11)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != "beforeafter" {
		t.Fatalf("read unlinked: %q %v", got, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink != 0 {
		t.Errorf("nlink of unlinked file = %d", st.Nlink)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unlinked name still there: %v", err)
	}
}

func MmapShared(t *testing.T, dir string) {
	p := filepath.Join(dir, "m")
	const size = 3 * 4096
	os.WriteFile(p, make([]byte, size), 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	copy(m[4090:], "across-pages")
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	unix.Munmap(m)
	got := make([]byte, 12)
	f.ReadAt(got, 4090)
	if string(got) != "across-pages" {
		t.Fatalf("mmap write not visible to read: %q", got)
	}
}

func ODirectWrite(t *testing.T, dir string) {
	p := filepath.Join(dir, "direct")
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT, 0o644)
	testenv.Need(t, err == nil, "O_DIRECT on the mount", fmt.Sprint(err))
	defer unix.Close(fd)
	buf, _ := unix.Mmap(-1, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	defer unix.Munmap(buf)
	copy(buf, bytes.Repeat([]byte("D"), 8192))
	if _, err := unix.Pwrite(fd, buf, 4096); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, p)
	if len(got) != 12288 || got[4096] != 'D' || got[0] != 0 {
		t.Fatalf("O_DIRECT write: len %d", len(got))
	}
}

func ManyFilesConcurrent(t *testing.T, dir string) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				p := filepath.Join(dir, "w"+string(rune('a'+w))+"-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
				data := bytes.Repeat([]byte{byte(w), byte(i)}, 1000+i)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					errs <- err
					return
				}
				if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
					errs <- errors.New("concurrent write/read mismatch in " + p)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 8*40 {
		t.Fatalf("%d entries, want %d", len(ents), 8*40)
	}
}

func ReadOnlyOpenSeesData(t *testing.T, dir string) {
	p := filepath.Join(dir, "ro")
	data := randBytes(t, 1<<20+3)
	os.WriteFile(p, data, 0o644)
	// Read-only opens (passthrough where the kernel allows) must see the
	// bytes, and a writer arriving while a reader is open must work.
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open for write while a reader has the file: %v", err)
	}
	if _, err := w.WriteAt([]byte("XYZ"), 10); err != nil {
		t.Fatal(err)
	}
	w.Close()
	copy(data[10:], "XYZ")
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("reader does not see the writer's bytes")
	}
}

// ReaderSeesLaterWrites checks that handles of one file stay coherent: a
// reader that already read a range (and so may hold it cached) sees a
// later write(2) through another handle, and so does a shared mapping;
// a store through the mapping is seen by read(2) on another handle. A
// mount whose writable handles bypass the page cache (--direct-writes)
// depends on the kernel dropping the stale cached pages.
func ReaderSeesLaterWrites(t *testing.T, dir string) {
	p := filepath.Join(dir, "coherent")
	const size = 4 * 4096
	if err := os.WriteFile(p, bytes.Repeat([]byte("a"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	readAt := func(f *os.File, off int64, n int) string {
		t.Helper()
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readAt(r, 0, 4); got != "aaaa" {
		t.Fatalf("first read %q", got)
	}
	if _, err := w.WriteAt([]byte("BBBB"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readAt(r, 0, 4); got != "BBBB" {
		t.Fatalf("a reader that read before a write sees %q, want BBBB", got)
	}
	m, err := unix.Mmap(int(w.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if string(m[4096:4100]) != "aaaa" {
		t.Fatalf("mapping reads %q", m[4096:4100])
	}
	if _, err := w.WriteAt([]byte("CCCC"), 4096); err != nil {
		t.Fatal(err)
	}
	if string(m[4096:4100]) != "CCCC" {
		t.Fatalf("a shared mapping sees %q after write(2), want CCCC", m[4096:4100])
	}
	copy(m[8192:], "DDDD")
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	if got := readAt(r, 8192, 4); got != "DDDD" {
		t.Fatalf("read(2) sees %q after a store through the mapping, want DDDD", got)
	}
}
