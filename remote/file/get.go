package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

// Get opens the object and returns a reader over the range. The open file
// keeps reading the version it opened even if the key is overwritten
// meanwhile (rename replaces the name, not the file).
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := remote.ValidKey(key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, remote.Permanent(s.fail("get", key, fmt.Errorf("negative offset %d", off)))
	}
	if err := ctx.Err(); err != nil {
		return nil, s.fail("get", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)

	// O_NONBLOCK: opening a FIFO planted in the root must not hang.
	fd, err := openBeneath(root, key, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, s.openErr("get", key, err)
	}
	f := os.NewFile(uintptr(fd), key)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, s.fail("get", key, err)
	}
	if err := s.regular("get", key, &st); err != nil {
		f.Close()
		return nil, err
	}
	n := st.Size - off
	if length >= 0 && length < n {
		n = length
	}
	if n <= 0 {
		f.Close()
		return io.NopCloser(&io.LimitedReader{}), nil
	}
	return &rangeReader{SectionReader: io.NewSectionReader(f, off, n), f: f}, nil
}

type rangeReader struct {
	*io.SectionReader
	f *os.File
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Stat returns the object's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	if err := remote.ValidKey(key); err != nil {
		return remote.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return remote.ObjectInfo{}, s.fail("stat", key, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return remote.ObjectInfo{}, err
	}
	defer unix.Close(root)
	fd, err := openBeneath(root, key, unix.O_PATH)
	if err != nil {
		return remote.ObjectInfo{}, s.openErr("stat", key, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return remote.ObjectInfo{}, s.fail("stat", key, err)
	}
	if err := s.regular("stat", key, &st); err != nil {
		return remote.ObjectInfo{}, err
	}
	return info(key, &st), nil
}

// openErr maps a failed open of key: a missing file, or a missing or
// non-directory parent, means the object does not exist.
func (s *Store) openErr(op, key string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return s.notFound(op, key)
	}
	return s.fail(op, key, err)
}

// regular accepts regular files. A directory is where keys below key live,
// not an object; anything else (a FIFO, a device) was not put there by a
// store and is refused.
func (s *Store) regular(op, key string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFDIR:
		return s.notFound(op, key)
	}
	return remote.Permanent(&remote.Error{Store: s.name, Op: op, Key: key,
		Msg: fmt.Sprintf("not a regular file (mode %#o)", st.Mode)})
}

func info(key string, st *unix.Stat_t) remote.ObjectInfo {
	return remote.ObjectInfo{Key: key, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix())}
}
