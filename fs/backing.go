package fs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// backing gives fd-relative access to the backing directory. Every path it
// takes is relative to the root and resolved with openat2 beneath it with
// symlinks refused, so that neither a symlink planted in the backing
// directory nor a path near PATH_MAX can make an operation land outside.
type backing struct {
	path string // for messages only
	root int    // O_PATH fd of the root
}

func openBacking(path string) (*backing, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("backing dir %s: %w", path, err)
	}
	return &backing{path: path, root: fd}, nil
}

func (b *backing) close() { unix.Close(b.root) }

// maxChunk bounds the path handed to one openat2 call: PATH_MAX is 4096,
// and longer relative paths are resolved in steps.
const maxChunk = 2048

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// open opens rel (relative to the root; "" is the root) with flags. The
// last component may be a symlink only with O_PATH|O_NOFOLLOW, which gives
// an fd of the link itself.
func (b *backing) open(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		rel = "."
	}
	dir := b.root
	for len(rel) > maxChunk {
		i := strings.LastIndexByte(rel[:maxChunk], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		fd, err := openat2(dir, rel[:i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if dir != b.root {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		dir, rel = fd, rel[i+1:]
	}
	fd, err := openat2(dir, rel, flags|unix.O_CLOEXEC, mode)
	if dir != b.root {
		unix.Close(dir)
	}
	return fd, err
}

func openat2(dir int, path string, flags int, mode uint32) (int, error) {
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

// dir opens directory rel for use as the dirfd of *at() calls.
func (b *backing) dir(rel string) (int, error) {
	return b.open(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// node opens rel itself without following a final symlink: an fd for
// fstat, fchownat(AT_EMPTY_PATH) and /proc/self/fd paths.
func (b *backing) node(rel string) (int, error) {
	return b.open(rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
}

// withDir runs fn with an fd of directory rel.
func (b *backing) withDir(rel string, fn func(dirfd int) error) error {
	fd, err := b.dir(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// procPath names an fd so that calls without an *at() form (xattrs, chmod
// of an O_PATH fd) reach the file it refers to.
func procPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func splitRel(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}
