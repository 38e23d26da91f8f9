package rofs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/mountinfo"
)

// TestMountReadBack: through a real mount over each backend, every file
// reads back byte for byte (whole, and at random offsets of odd sizes),
// with the attributes the manifests hold; listings, symlinks and
// xattrs are there.
func TestMountReadBack(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) {
			store, url, env := r.store(t)
			w := browsetest.New(t, store)
			files := w.WriteVariety(true)
			w.Symlink("dir/link", "../short.txt")
			w.SetAttr("short.txt", func(m *format.Manifest) {
				m.Xattrs = []format.Xattr{{Name: "user.job", Value: []byte("42")}, {Name: "security.capability", Value: []byte{1}}}
				m.Mode = 0o640
				m.UID, m.GID = 1234, 5678
				m.Mtime = time.Unix(1700000000, 123456789)
			})
			m := newMount(t, url, env, serverConfig{})

			for _, p := range files {
				want := w.Content(p)
				got, err := os.ReadFile(m.path(p))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if sha256.Sum256(got) != sha256.Sum256(want) {
					t.Fatalf("%s: %d bytes read, %d written; contents differ", p, len(got), len(want))
				}
				mf := w.Manifest(p)
				st, err := os.Stat(m.path(p))
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != mf.Size || uint32(st.Mode().Perm()) != mf.Mode&0o777 || !st.ModTime().Equal(mf.Mtime) {
					t.Errorf("%s: stat %v %v %v, manifest %d %o %v", p, st.Size(), st.Mode(), st.ModTime(), mf.Size, mf.Mode, mf.Mtime)
				}
				randomReads(t, m.path(p), want)
			}

			st, _ := os.Stat(m.path("short.txt"))
			sys := st.Sys().(*syscall.Stat_t)
			if st.Mode().Perm() != 0o640 || sys.Uid != 1234 || sys.Gid != 5678 || !st.ModTime().Equal(time.Unix(1700000000, 123456789)) {
				t.Errorf("short.txt attributes: %v uid %d gid %d %v", st.Mode(), sys.Uid, sys.Gid, st.ModTime())
			}
			buf := make([]byte, 64)
			if n, err := unix.Getxattr(m.path("short.txt"), "user.job", buf); err != nil || string(buf[:n]) != "42" {
				t.Errorf("user.job: %q, %v", buf[:n], err)
			}
			if _, err := unix.Getxattr(m.path("short.txt"), "security.capability", buf); err == nil {
				t.Errorf("security.capability is shown")
			}
			n, _ := unix.Listxattr(m.path("short.txt"), buf)
			if string(buf[:n]) != "user.job\x00" {
				t.Errorf("listxattr: %q", buf[:n])
			}
			if target, err := os.Readlink(m.path("dir/link")); err != nil || target != "../short.txt" {
				t.Errorf("readlink: %q, %v", target, err)
			}
			if b, err := os.ReadFile(m.path("dir/link")); err != nil || string(b) != "hello, world\n" {
				t.Errorf("through the link: %q, %v", b, err)
			}
			ents, err := os.ReadDir(m.path(""))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			want := []string{"dir", "empty", "oneblock", "rewritten.odb", "short.txt", "sparse", "twoseg", "zeros-and-data"}
			if !equalStrings(names, want) {
				t.Errorf("root lists %q, want %q", names, want)
			}
			if _, err := os.Stat(m.path("nope")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stat of a missing name: %v", err)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	sort.Strings(a)
	sort.Strings(b)
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

// randomReads preads odd sizes at random offsets of path.
func randomReads(t *testing.T, path string, want []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(uint64(len(want)), 5))
	for i := 0; i < 20 && len(want) > 0; i++ {
		off := r.Int64N(int64(len(want)))
		buf := make([]byte, r.IntN(300000)+1)
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatalf("%s: pread %d at %d: %v", path, len(buf), off, err)
		}
		if n != min(len(buf), len(want)-int(off)) || !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
			t.Fatalf("%s: pread %d at %d: wrong bytes (%d read)", path, len(buf), off, n)
		}
	}
}

// TestMountReadOnly: every write-like call fails with EROFS, whether the
// kernel refuses it (a real mount) or the daemon does (the kernel flag
// left out).
func TestMountReadOnly(t *testing.T) {
	for _, kernelRW := range []bool{false, true} {
		name := "kernel-ro"
		if kernelRW {
			name = "daemon-ro"
		}
		t.Run(name, func(t *testing.T) {
			store, url, env := remotes[0].store(t)
			w := browsetest.New(t, store)
			w.WriteFile("d/f", []byte("data"), 0o644)
			m := newMount(t, url, env, serverConfig{KernelWritable: kernelRW})
			f, d := m.path("d/f"), m.path("d")
			for what, err := range map[string]error{
				"open for write": openErr(f, os.O_WRONLY),
				"open rdwr":      openErr(f, os.O_RDWR),
				"truncate open":  openErr(f, os.O_RDONLY|os.O_TRUNC),
				"create":         openErr(filepath.Join(d, "new"), os.O_CREATE|os.O_WRONLY),
				"mkdir":          os.Mkdir(filepath.Join(d, "sub"), 0o755),
				"unlink":         os.Remove(f),
				"rmdir":          syscall.Rmdir(d),
				"rename":         os.Rename(f, filepath.Join(d, "g")),
				"chmod":          os.Chmod(f, 0o600),
				"chown":          os.Chown(f, 1, 1),
				"truncate":       os.Truncate(f, 1),
				"utimes":         os.Chtimes(f, time.Now(), time.Now()),
				"setxattr":       unix.Setxattr(f, "user.x", []byte("1"), 0),
				"removexattr":    unix.Removexattr(f, "user.x"),
				"symlink":        os.Symlink("f", filepath.Join(d, "l")),
				"link":           os.Link(f, filepath.Join(d, "h")),
				"mknod":          syscall.Mknod(filepath.Join(d, "fifo"), syscall.S_IFIFO|0o644, 0),
			} {
				if !errors.Is(err, syscall.EROFS) {
					t.Errorf("%s: %v, want EROFS", what, err)
				}
			}
			if b, err := os.ReadFile(f); err != nil || string(b) != "data" {
				t.Errorf("read after the attempts: %q, %v", b, err)
			}
			mi, ok, err := mountinfo.Find(m.mnt)
			if err != nil || !ok || !mi.IsSyncfs() || mi.Source != "syncfs-rotest" {
				t.Errorf("mount table: %+v %v %v", mi, ok, err)
			}
			if opts := mountOptions(t, m.mnt); !kernelRW && !strings.Contains(","+opts+",", ",ro,") {
				t.Errorf("mount options %q lack ro", opts)
			} else if !strings.Contains(opts, "nosuid") || !strings.Contains(opts, "nodev") {
				t.Errorf("mount options %q lack nosuid,nodev", opts)
			}
		})
	}
}

// mountOptions returns the per-mount options of mnt from /proc/self/mountinfo.
func mountOptions(t *testing.T, mnt string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == mnt {
			return f[5]
		}
	}
	return ""
}

func openErr(p string, flags int) error {
	f, err := os.OpenFile(p, flags, 0o644)
	if err == nil {
		f.Close()
	}
	return err
}
