package posix

import (
	"bytes"
	"github.com/syncfs/syncfs/internal/testenv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func modeOf(t *testing.T, p string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mode & 0o7777
}

func ChmodModes(t *testing.T, dir string) {
	p := filepath.Join(dir, "m")
	os.WriteFile(p, nil, 0o644)
	for _, m := range []uint32{0o000, 0o644, 0o755, 0o4755, 0o2755, 0o6711, 0o1777, 0o7777, 0o400} {
		if err := syscall.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, p); got != m {
			t.Errorf("chmod %04o: stat says %04o", m, got)
		}
	}
	d := filepath.Join(dir, "d")
	os.Mkdir(d, 0o755)
	for _, m := range []uint32{0o000, 0o2775, 0o1777, 0o700} {
		syscall.Chmod(d, m)
		if got := modeOf(t, d); got != m {
			t.Errorf("chmod dir %04o: stat says %04o", m, got)
		}
	}
	syscall.Chmod(d, 0o755)
}

func CreateModesUmask(t *testing.T, dir string) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		umask, mode, want uint32
	}{
		{0o022, 0o666, 0o644},
		{0o077, 0o666, 0o600},
		{0o000, 0o666, 0o666},
		{0o027, 0o777, 0o750},
		{0o000, 0o4755, 0o4755}, // setuid asked for at creation is kept
		{0o000, 0o000, 0o000},
	} {
		syscall.Umask(int(tc.umask))
		p := filepath.Join(dir, "f"+modeName(tc.umask, tc.mode))
		fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
		if got := modeOf(t, p); got != tc.want {
			t.Errorf("create %04o under umask %03o: mode %04o, want %04o", tc.mode, tc.umask, got, tc.want)
		}
		d := filepath.Join(dir, "d"+modeName(tc.umask, tc.mode))
		if err := syscall.Mkdir(d, tc.mode&0o777); err != nil {
			t.Fatal(err)
		}
		if got, want := modeOf(t, d), tc.mode&0o777&^tc.umask; got != want {
			t.Errorf("mkdir %04o under umask %03o: mode %04o, want %04o", tc.mode&0o777, tc.umask, got, want)
		}
	}
}

func modeName(a, b uint32) string {
	return strings.ReplaceAll(strings.ReplaceAll(string(rune('0'+a%8))+string(rune('0'+b%8))+"-"+itoa(a)+"-"+itoa(b), " ", ""), "/", "")
}

func itoa(v uint32) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%8)}, b...)
		v /= 8
		if v == 0 {
			return string(b)
		}
	}
}

func needRoot(t *testing.T) {
	testenv.Need(t, os.Geteuid() == 0, "root", "run the tests as root (CI does)")
}

func Chown(t *testing.T, dir string) {
	needRoot(t)
	p := filepath.Join(dir, "o")
	os.WriteFile(p, nil, 0o644)
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Stat(p, &st)
	if st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("owner %d:%d", st.Uid, st.Gid)
	}
	// chown of a symlink itself
	l := filepath.Join(dir, "l")
	os.Symlink("o", l)
	if err := os.Lchown(l, 42, 43); err != nil {
		t.Fatal(err)
	}
	syscall.Lstat(l, &st)
	if st.Uid != 42 || st.Gid != 43 {
		t.Fatalf("symlink owner %d:%d", st.Uid, st.Gid)
	}
	syscall.Stat(p, &st)
	if st.Uid != 1234 {
		t.Fatal("lchown followed the link")
	}
}

func SetgidDirInherits(t *testing.T, dir string) {
	needRoot(t)
	d := filepath.Join(dir, "g")
	os.Mkdir(d, 0o755)
	os.Chown(d, 0, 4321)
	syscall.Chmod(d, 0o2775)
	f := filepath.Join(d, "f")
	os.WriteFile(f, nil, 0o644)
	var st syscall.Stat_t
	syscall.Stat(f, &st)
	if st.Gid != 4321 {
		t.Errorf("file in setgid dir has gid %d, want the dir's 4321", st.Gid)
	}
	sub := filepath.Join(d, "sub")
	os.Mkdir(sub, 0o755)
	syscall.Stat(sub, &st)
	if st.Gid != 4321 || st.Mode&syscall.S_ISGID == 0 {
		t.Errorf("dir in setgid dir: gid %d mode %o; want gid 4321 and setgid", st.Gid, st.Mode&0o7777)
	}
}

func Utimens(t *testing.T, dir string) {
	p := filepath.Join(dir, "t")
	os.WriteFile(p, nil, 0o644)
	at := time.Date(2001, 2, 3, 4, 5, 6, 789000000, time.UTC)
	mt := time.Date(2011, 12, 13, 14, 15, 16, 123456789, time.UTC)
	if err := os.Chtimes(p, at, mt); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Stat(p, &st)
	if got := time.Unix(st.Mtim.Sec, st.Mtim.Nsec); !got.Equal(mt) {
		t.Errorf("mtime %v, want %v", got.UTC(), mt)
	}
	if got := time.Unix(st.Atim.Sec, st.Atim.Nsec); !got.Equal(at) {
		t.Errorf("atime %v, want %v", got.UTC(), at)
	}
	// Symlink times without following.
	l := filepath.Join(dir, "l")
	os.Symlink("t", l)
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(at.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, l, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	syscall.Lstat(l, &st)
	if st.Mtim.Sec != at.Unix() {
		t.Errorf("symlink mtime %d, want %d", st.Mtim.Sec, at.Unix())
	}
	// Writing moves mtime forward.
	before := time.Now().Add(-2 * time.Second)
	os.WriteFile(p, []byte("x"), 0o644)
	syscall.Stat(p, &st)
	if time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Before(before) {
		t.Error("write did not update mtime")
	}
}

func Xattrs(t *testing.T, dir string) {
	p := filepath.Join(dir, "x")
	os.WriteFile(p, nil, 0o644)
	val := bytes.Repeat([]byte("v"), 300)
	if err := unix.Setxattr(p, "user.solver", val, 0); err != nil {
		t.Fatal(err)
	}
	unix.Setxattr(p, "user.other", []byte("2"), 0)
	buf := make([]byte, 1024)
	n, err := unix.Getxattr(p, "user.solver", buf)
	if err != nil || !bytes.Equal(buf[:n], val) {
		t.Fatalf("getxattr: %v", err)
	}
	if n, err := unix.Getxattr(p, "user.solver", nil); err != nil || n != len(val) {
		t.Fatalf("getxattr size query: %d %v", n, err)
	}
	n, _ = unix.Listxattr(p, buf)
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	if strings.Join(names, ",") != "user.other,user.solver" {
		t.Fatalf("listxattr: %q", names)
	}
	if err := unix.Removexattr(p, "user.other"); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Getxattr(p, "user.other", buf); err != unix.ENODATA {
		t.Fatalf("removed xattr: %v", err)
	}
	if err := unix.Setxattr(p, "user.solver", []byte("x"), unix.XATTR_CREATE); err != unix.EEXIST {
		t.Fatalf("XATTR_CREATE on existing: %v", err)
	}
	d := filepath.Join(dir, "dir")
	os.Mkdir(d, 0o755)
	if err := unix.Setxattr(d, "user.d", []byte("1"), 0); err != nil {
		t.Fatalf("xattr on dir: %v", err)
	}
}

func Statfs(t *testing.T, dir string) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	if s.Bsize <= 0 || s.Blocks == 0 || s.Namelen < 255 {
		t.Fatalf("statfs: bsize %d blocks %d namelen %d", s.Bsize, s.Blocks, s.Namelen)
	}
}
