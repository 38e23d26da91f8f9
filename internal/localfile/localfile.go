// Package localfile opens an inode of the backing directory as the
// journal names it, checks that it still is what the journal says, and
// reads it: what the uploader ships from and what reconciliation compares.
// Both must agree on what a file's attributes are and on how a hole or a
// short read counts, so there is one copy.
package localfile

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// File is an inode of the backing directory, open.
type File struct {
	FD     int // O_RDONLY for files and directories, O_PATH for symlinks
	St     unix.Stat_t
	Target string // a symlink's
	Xattrs []format.Xattr
}

// Close closes the file.
func (l *File) Close() { unix.Close(l.FD) }

// ErrMoved: the backing file is not where the journal says, or not what
// it says; a rename or an unlink is on its way into the journal. The
// caller retries shortly.
var ErrMoved = errors.New("backing file moved or changed type since it was journaled")

// Open opens path (relative to the backing dir) as an inode of kind.
// target, if not nil, gives the journal's copy of a symlink's target.
func Open(dir *beneath.Dir, path string, kind journal.Kind, target func() (string, bool)) (*File, error) {
	l := &File{FD: -1}
	var err error
	switch kind {
	case journal.KindFile:
		l.FD, err = dir.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOATIME, 0)
		if err == unix.EPERM { // O_NOATIME needs ownership or CAP_FOWNER
			l.FD, err = dir.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
		}
	case journal.KindDir:
		l.FD, err = dir.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	default:
		l.FD, err = dir.OpenNode(path)
	}
	if err != nil {
		return nil, movedErr(path, err)
	}
	if err := unix.Fstat(l.FD, &l.St); err != nil {
		l.Close()
		return nil, err
	}
	want := map[journal.Kind]uint32{journal.KindFile: unix.S_IFREG, journal.KindDir: unix.S_IFDIR, journal.KindSymlink: unix.S_IFLNK}[kind]
	if l.St.Mode&unix.S_IFMT != want {
		l.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrMoved)
	}
	if kind == journal.KindSymlink {
		// The journal's copy of the target, where it has one: readlink
		// would update the backing link's atime under relatime, undoing
		// a utimensat(AT_SYMLINK_NOFOLLOW) made through the mount.
		if target != nil {
			if t, ok := target(); ok {
				l.Target = t
				return l, nil
			}
		}
		parent, name := beneath.Split(path)
		err := dir.WithDir(parent, func(dirfd int) error {
			buf := make([]byte, format.MaxTarget+1)
			n, err := unix.Readlinkat(dirfd, name, buf)
			if err != nil {
				return err
			}
			if n > format.MaxTarget {
				return fmt.Errorf("symlink target longer than %d bytes", format.MaxTarget)
			}
			l.Target = string(buf[:n])
			return nil
		})
		if err != nil {
			l.Close()
			return nil, movedErr(path, err)
		}
		return l, nil
	}
	l.Xattrs = readXattrs(l.FD)
	return l, nil
}

func movedErr(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s: %w (%v)", path, ErrMoved, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// readXattrs returns the user.* extended attributes, as many as fit in the
// format's 64 KiB.
func readXattrs(fd int) []format.Xattr {
	p := beneath.ProcPath(fd)
	buf := make([]byte, 64<<10)
	n, err := unix.Listxattr(p, buf)
	if err != nil || n <= 0 {
		return nil
	}
	var out []format.Xattr
	total := 0
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") || len(name) > 255 {
			continue
		}
		v := make([]byte, 64<<10)
		vn, err := unix.Getxattr(p, name, v)
		if err != nil || total+len(name)+vn > format.MaxXattrBytes {
			continue
		}
		total += len(name) + vn
		out = append(out, format.Xattr{Name: name, Value: v[:vn]})
	}
	return out
}

// Attrs fills m's attributes from the local file.
func (l *File) Attrs(m *format.Manifest) {
	m.Mode = l.St.Mode & 0o7777
	m.UID, m.GID = l.St.Uid, l.St.Gid
	m.Mtime = time.Unix(l.St.Mtim.Sec, l.St.Mtim.Nsec)
	m.Target = l.Target
	m.Xattrs = l.Xattrs
}

// Hole reports whether [off, off+n) of fd is entirely a hole, without
// reading it: a file grown by truncate costs no reads.
func Hole(fd int, off, n int64) bool {
	d, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return true // no data after off
	}
	return err == nil && d >= off+n
}

// ReadFull reads len(b) bytes at off, zero-filling past the end of the
// file (it may have shrunk since it was measured; the truncate is in the
// journal and ships next).
func ReadFull(fd int, b []byte, off int64) error {
	for done := 0; done < len(b); {
		n, err := unix.Pread(fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			clear(b[done:])
			return nil
		}
		done += n
	}
	return nil
}

// AllZero reports whether b holds only zeros.
func AllZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
