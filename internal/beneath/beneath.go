// Package beneath opens paths relative to a directory without ever leaving
// it: openat2 with RESOLVE_BENEATH and symlinks refused, in steps for paths
// longer than PATH_MAX. The FUSE layer and the uploader reach the backing
// directory only through it.
package beneath

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir gives fd-relative access to a directory tree. Every path it takes is
// relative to the root and resolved with openat2 beneath it with symlinks
// refused, so that neither a symlink planted in the tree nor a path near
// PATH_MAX can make an operation land outside.
type Dir struct {
	Path string // for messages only
	Root int    // O_PATH fd of the root
}

// Open opens the directory at path as the root of a Dir.
func Open(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Dir{Path: path, Root: fd}, nil
}

// Close releases the root fd.
func (b *Dir) Close() { unix.Close(b.Root) }

// maxChunk bounds the path handed to one openat2 call: PATH_MAX is 4096,
// and longer relative paths are resolved in steps.
const maxChunk = 2048

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// Open opens rel (relative to the root; "" is the root) with flags. The
// last component may be a symlink only with O_PATH|O_NOFOLLOW, which gives
// an fd of the link itself.
func (b *Dir) Open(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		rel = "."
	}
	dir := b.Root
	for len(rel) > maxChunk {
		i := strings.LastIndexByte(rel[:maxChunk], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		fd, err := Openat2(dir, rel[:i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if dir != b.Root {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		dir, rel = fd, rel[i+1:]
	}
	fd, err := Openat2(dir, rel, flags|unix.O_CLOEXEC, mode)
	if dir != b.Root {
		unix.Close(dir)
	}
	return fd, err
}

// Openat2 opens path beneath dir; see Dir.
func Openat2(dir int, path string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: resolveFlags}
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(dir, path, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue // EAGAIN: a rename raced the lookup; try again
		}
		return fd, err
	}
}

// OpenDir opens directory rel for use as the dirfd of *at() calls.
func (b *Dir) OpenDir(rel string) (int, error) {
	return b.Open(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// OpenNode opens rel itself without following a final symlink: an fd for
// fstat, fchownat(AT_EMPTY_PATH) and /proc/self/fd paths.
func (b *Dir) OpenNode(rel string) (int, error) {
	return b.Open(rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
}

// WithDir runs fn with an fd of directory rel.
func (b *Dir) WithDir(rel string, fn func(dirfd int) error) error {
	fd, err := b.OpenDir(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// ProcPath names an fd so that calls without an *at() form (xattrs, chmod
// of an O_PATH fd) reach the file it refers to.
func ProcPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// Join joins a relative directory and a name.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// Split splits a relative path into directory and name.
func Split(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// ReadNames lists the directory open as fd, without "." and "..".
func ReadNames(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
