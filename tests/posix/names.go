package posix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func RenameOverExisting(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("new"), 0o644)
	os.WriteFile(b, []byte("old contents"), 0o644)
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, b); string(got) != "new" {
		t.Fatalf("after rename over: %q", got)
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("source still exists")
	}
	// The write-temp-then-rename pattern many tools use.
	tmp := filepath.Join(dir, ".b.tmp")
	os.WriteFile(tmp, []byte("third"), 0o644)
	if err := os.Rename(tmp, b); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, b); string(got) != "third" {
		t.Fatalf("after second rename: %q", got)
	}
}

func RenameAcrossDirs(t *testing.T, dir string) {
	src := filepath.Join(dir, "src", "deep")
	dst := filepath.Join(dir, "dst")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("payload"), 0o644)
	if err := os.Rename(filepath.Join(src, "f"), filepath.Join(dst, "g")); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(dst, "g")); string(got) != "payload" {
		t.Fatal("file renamed across dirs lost its content")
	}
	// A directory with content moves as a whole.
	os.WriteFile(filepath.Join(src, "h"), []byte("inner"), 0o644)
	if err := os.Rename(filepath.Join(dir, "src"), filepath.Join(dst, "moved")); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(dst, "moved", "deep", "h")); string(got) != "inner" {
		t.Fatal("directory renamed lost its content")
	}
	// Rename over an empty directory (os.Rename refuses that itself).
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	if err := syscall.Rename(filepath.Join(dst, "moved"), filepath.Join(dir, "empty")); err != nil {
		t.Fatalf("rename dir over empty dir: %v", err)
	}
	if got := mustRead(t, filepath.Join(dir, "empty", "deep", "h")); string(got) != "inner" {
		t.Fatal("content lost renaming over an empty dir")
	}
}

func RenameNoReplace(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("a"), 0o644)
	os.WriteFile(b, []byte("b"), 0o644)
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE)
	if err != unix.EEXIST {
		t.Fatalf("RENAME_NOREPLACE over an existing file: %v, want EEXIST", err)
	}
	if got := mustRead(t, b); string(got) != "b" {
		t.Fatal("RENAME_NOREPLACE clobbered the target")
	}
}

func RenameExchange(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("A"), 0o644)
	os.Mkdir(b, 0o755)
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(a); err != nil || !st.IsDir() {
		t.Fatal("a should now be the directory")
	}
	if got := mustRead(t, b); string(got) != "A" {
		t.Fatal("b should now be the file")
	}
}

func MkdirRmdir(t *testing.T, dir string) {
	d := filepath.Join(dir, "d")
	if err := os.Mkdir(d, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d, 0o750); !errors.Is(err, os.ErrExist) {
		t.Fatalf("mkdir twice: %v", err)
	}
	os.WriteFile(filepath.Join(d, "f"), nil, 0o644)
	if err := syscall.Rmdir(d); err != syscall.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	os.Remove(filepath.Join(d, "f"))
	if err := syscall.Rmdir(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("removed dir still there")
	}
}

func ReaddirMany(t *testing.T, dir string) {
	var want []string
	for i := 0; i < 1500; i++ {
		name := fmt.Sprintf("entry-%04d-%s", i, strings.Repeat("n", i%40))
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("readdir gave %d names, want %d", len(got), len(want))
	}
	// d_ino agrees with st_ino.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents[:10] {
		info, _ := e.Info()
		st := info.Sys().(*syscall.Stat_t)
		var lst syscall.Stat_t
		syscall.Lstat(filepath.Join(dir, e.Name()), &lst)
		if st.Ino != lst.Ino {
			t.Fatalf("%s: inode numbers disagree", e.Name())
		}
	}
}

func SymlinkReadlink(t *testing.T, dir string) {
	l := filepath.Join(dir, "link")
	target := "../some/where/" + strings.Repeat("x", 300)
	if err := os.Symlink(target, l); err != nil {
		t.Fatal(err)
	}
	got, err := os.Readlink(l)
	if err != nil || got != target {
		t.Fatalf("readlink = %q, %v", got, err)
	}
	st, err := os.Lstat(l)
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("lstat: %v %v", st, err)
	}
	// Following a link to a file in the mount.
	os.WriteFile(filepath.Join(dir, "real"), []byte("via link"), 0o644)
	os.Symlink("real", filepath.Join(dir, "rel"))
	if got := mustRead(t, filepath.Join(dir, "rel")); string(got) != "via link" {
		t.Fatalf("read through symlink: %q", got)
	}
}

func HardLink(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("shared"), 0o644)
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	var sa, sb syscall.Stat_t
	syscall.Stat(a, &sa)
	syscall.Stat(b, &sb)
	if sa.Ino != sb.Ino || sa.Nlink != 2 {
		t.Fatalf("hard link: ino %d vs %d, nlink %d", sa.Ino, sb.Ino, sa.Nlink)
	}
	f, _ := os.OpenFile(b, os.O_WRONLY, 0)
	f.WriteAt([]byte("SH"), 0)
	f.Close()
	if got := mustRead(t, a); string(got) != "SHared" {
		t.Fatalf("write through one link not seen through the other: %q", got)
	}
	os.Remove(a)
	if got := mustRead(t, b); string(got) != "SHared" {
		t.Fatal("content lost after unlinking one link")
	}
}

// LongPaths builds a tree whose paths are longer than PATH_MAX (4096), by
// walking with directory fds as a solver's deep output tree might, and
// uses it: the daemon must not rebuild absolute paths.
func LongPaths(t *testing.T, dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	comp := strings.Repeat("p", 250)
	var fds []int
	defer func() {
		for _, f := range fds {
			unix.Close(f)
		}
	}()
	fds = append(fds, fd)
	total := len(dir)
	for total < 6000 {
		if err := unix.Mkdirat(fd, comp, 0o755); err != nil {
			t.Fatalf("mkdir at depth %d (path %d bytes): %v", len(fds), total, err)
		}
		if fd, err = unix.Openat(fd, comp, unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
			t.Fatalf("open at depth %d: %v", len(fds), err)
		}
		fds = append(fds, fd)
		total += len(comp) + 1
	}
	f, err := unix.Openat(fd, "leaf", unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("create at %d bytes: %v", total, err)
	}
	unix.Pwrite(f, []byte("deep"), 0)
	unix.Close(f)
	if err := unix.Renameat(fd, "leaf", fd, "leaf2"); err != nil {
		t.Fatalf("rename at %d bytes: %v", total, err)
	}
	f, err = unix.Openat(fd, "leaf2", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	unix.Pread(f, buf, 0)
	unix.Close(f)
	if string(buf) != "deep" {
		t.Fatalf("read back %q", buf)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "leaf2", &st, 0); err != nil || st.Size != 4 {
		t.Fatalf("stat deep: %v size %d", err, st.Size)
	}
	if err := unix.Unlinkat(fd, "leaf2", 0); err != nil {
		t.Fatal(err)
	}
	// Remove the tree bottom-up.
	for i := len(fds) - 1; i > 0; i-- {
		if err := unix.Unlinkat(fds[i-1], comp, unix.AT_REMOVEDIR); err != nil {
			t.Fatalf("rmdir at depth %d: %v", i, err)
		}
	}
}

func InoStableAcrossStat(t *testing.T, dir string) {
	p := filepath.Join(dir, "i")
	os.WriteFile(p, nil, 0o644)
	var a, b syscall.Stat_t
	syscall.Stat(p, &a)
	os.Rename(p, p+"2")
	syscall.Stat(p+"2", &b)
	if a.Ino != b.Ino {
		t.Fatalf("inode number changed across rename: %d -> %d", a.Ino, b.Ino)
	}
}
