package fs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDifferential applies the same seeded random operations to the mount
// and to a plain directory, then compares the two trees byte for byte.
func TestDifferential(t *testing.T) {
	for _, flavour := range []struct {
		name string
		mo   MountOptions
	}{{"writeback", MountOptions{}}, {"no-writeback", MountOptions{NoWriteback: true}}, {"direct-writes", MountOptions{DirectWrites: true}}} {
		t.Run(flavour.name, func(t *testing.T) {
			m := newTestMount(t, Options{Passthrough: true}, flavour.mo)
			for seed := int64(1); seed <= 8; seed++ {
				mnt := filepath.Join(m.mnt, fmt.Sprint(seed))
				ref := filepath.Join(t.TempDir(), "ref")
				os.Mkdir(mnt, 0o755)
				os.Mkdir(ref, 0o755)
				runOps(t, seed, 300, []string{mnt, ref})
				compareTrees(t, ref, mnt)
			}
			m.journal(t) // checks the journal's invariants
		})
	}
}

// runOps applies n random operations to every root in the same way.
func runOps(t *testing.T, seed int64, n int, roots []string) {
	rng := rand.New(rand.NewSource(seed))
	var files, dirs []string
	dirs = append(dirs, "")
	pickFile := func() (string, bool) {
		if len(files) == 0 {
			return "", false
		}
		return files[rng.Intn(len(files))], true
	}
	newName := func() string {
		return filepath.Join(dirs[rng.Intn(len(dirs))], fmt.Sprintf("f%d", rng.Intn(1000)))
	}
	each := func(desc string, fn func(root string) error) {
		for _, r := range roots {
			if err := fn(r); err != nil {
				t.Fatalf("seed %d %s in %s: %v", seed, desc, r, err)
			}
		}
	}
	remove := func(list []string, s string) []string {
		for i, v := range list {
			if v == s {
				return append(list[:i], list[i+1:]...)
			}
		}
		return list
	}
	for i := 0; i < n; i++ {
		switch op := rng.Intn(10); {
		case op <= 2: // pwrite at a random offset, possibly far past EOF
			p, ok := pickFile()
			if !ok || rng.Intn(4) == 0 {
				p = newName()
				if isDir(roots[1], p) {
					continue
				}
			}
			off := rng.Int63n(3 << 20)
			data := make([]byte, rng.Intn(200000)+1)
			rng.Read(data)
			each("pwrite "+p, func(r string) error {
				f, err := os.OpenFile(filepath.Join(r, p), os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = f.WriteAt(data, off)
				return err
			})
			if !contains(files, p) {
				files = append(files, p)
			}
		case op == 3: // append
			p, ok := pickFile()
			if !ok {
				continue
			}
			data := bytes.Repeat([]byte{byte(i)}, rng.Intn(10000)+1)
			each("append "+p, func(r string) error {
				f, err := os.OpenFile(filepath.Join(r, p), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = f.Write(data)
				return err
			})
		case op == 4: // truncate
			p, ok := pickFile()
			if !ok {
				continue
			}
			size := rng.Int63n(4 << 20)
			each("truncate "+p, func(r string) error { return os.Truncate(filepath.Join(r, p), size) })
		case op == 5: // rename, sometimes over an existing file
			p, ok := pickFile()
			if !ok {
				continue
			}
			q := newName()
			if rng.Intn(3) == 0 {
				q, _ = pickFile()
			}
			if q == p || isDir(roots[1], q) {
				continue
			}
			each("rename "+p+" "+q, func(r string) error { return os.Rename(filepath.Join(r, p), filepath.Join(r, q)) })
			files = remove(files, p)
			if !contains(files, q) {
				files = append(files, q)
			}
		case op == 6: // unlink
			p, ok := pickFile()
			if !ok {
				continue
			}
			each("unlink "+p, func(r string) error { return os.Remove(filepath.Join(r, p)) })
			files = remove(files, p)
		case op == 7: // mkdir
			d := filepath.Join(dirs[rng.Intn(len(dirs))], fmt.Sprintf("d%d", rng.Intn(100)))
			if _, err := os.Lstat(filepath.Join(roots[1], d)); err == nil {
				continue
			}
			each("mkdir "+d, func(r string) error { return os.Mkdir(filepath.Join(r, d), 0o755) })
			dirs = append(dirs, d)
		case op == 8: // shared mmap write
			p, ok := pickFile()
			if !ok {
				continue
			}
			st, err := os.Stat(filepath.Join(roots[1], p))
			if err != nil || st.Size() == 0 {
				continue
			}
			off := rng.Int63n(st.Size())
			data := make([]byte, min(int64(rng.Intn(9000)+1), st.Size()-off))
			rng.Read(data)
			each("mmap "+p, func(r string) error { return mmapWrite(filepath.Join(r, p), off, data) })
		case op == 9: // rewrite a small region long written (a header)
			p, ok := pickFile()
			if !ok {
				continue
			}
			data := make([]byte, 64)
			rng.Read(data)
			each("header "+p, func(r string) error {
				f, err := os.OpenFile(filepath.Join(r, p), os.O_WRONLY, 0)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = f.WriteAt(data, 0)
				return err
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func isDir(root, p string) bool {
	st, err := os.Lstat(filepath.Join(root, p))
	return err == nil && st.IsDir()
}

func mmapWrite(path string, off int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(m[off:], data)
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		return err
	}
	return unix.Munmap(m)
}

// treeSummary lists every entry below root with type, mode, size and a
// hash of its content.
func treeSummary(t *testing.T, root string) []string {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %o", rel, st.Mode)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	w, g := treeSummary(t, want), treeSummary(t, got)
	if strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Fatalf("trees differ:\nreference:\n%s\nmount:\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
	}
}
