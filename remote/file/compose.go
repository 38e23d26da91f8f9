package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Composer = (*Store)(nil)

// Compose writes the object to a temporary file beside it, copying the
// parts taken from existing objects with copy_file_range (a reflink or an
// in-kernel copy: the bytes do not pass through the process) and writing
// the new ones, then renames it into place like Put. The metadata
// "mtime" (seconds[.nanoseconds], as rclone writes it) and "mode" (octal)
// become the file's times and permission bits; every key is also stored
// as the extended attribute user.<key> where the file system has them.
// The ETag is the file's size, modification time and inode number: what
// a later Compose checks a source against.
func (s *Store) Compose(ctx context.Context, key string, parts []remote.Part, meta map[string]string) (string, error) {
	if err := remote.ValidKey(key); err != nil {
		return "", err
	}
	return s.write(ctx, "compose", key, parts, meta, false)
}

// write is Put and Compose: the parts into a temporary file beside the
// object, then a rename (or, with ifAbsent, a link) into place, started
// over when a concurrent Delete removed the directory meanwhile.
func (s *Store) write(ctx context.Context, op, key string, parts []remote.Part, meta map[string]string, ifAbsent bool) (string, error) {
	root, err := s.openRoot()
	if err != nil {
		return "", err
	}
	defer unix.Close(root)
	dir, name := split(key)
	for race := 0; ; race++ {
		etag, err := s.writeOnce(ctx, op, root, key, dir, name, parts, meta, ifAbsent)
		if !errors.Is(err, errDirGone) {
			return etag, err
		}
		if race == maxDirRaces {
			return "", s.fail(op, key, err)
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, op string, root int, key, dir, name string, parts []remote.Part, meta map[string]string, ifAbsent bool) (string, error) {
	dirfd, err := s.mkdirAll(root, key, dir)
	if err != nil {
		return "", err
	}
	defer unix.Close(dirfd)
	tmp := tempName()
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
	if errors.Is(err, unix.ENOENT) {
		return "", errDirGone
	}
	if err != nil {
		return "", s.fail(op, key, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	committed := false
	defer func() {
		f.Close()
		if !committed {
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	var off int64
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return "", s.fail(op, key, err)
		}
		if p.From != "" {
			err = s.copyRange(root, fd, off, p)
		} else {
			err = writeBody(ctx, f, off, p)
		}
		switch {
		case errors.Is(err, remote.ErrSourceChanged):
			return "", err
		case errors.Is(err, errShortBody):
			return "", remote.Permanent(s.fail(op, key, err))
		case err != nil && len(parts) > 1:
			return "", s.fail(op, key, fmt.Errorf("part %d: %w", i+1, err))
		case err != nil:
			return "", s.fail(op, key, err)
		}
		off += p.Size
	}
	applyMeta(fd, meta)
	if err := f.Sync(); err != nil {
		return "", s.fail(op, key, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", s.fail(op, key, err)
	}
	if ifAbsent {
		err = s.link(dirfd, tmp, key, name)
	} else {
		err = unix.Renameat(dirfd, tmp, dirfd, name)
		switch {
		case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
			err = s.conflict(op, key, "keys exist under "+key+"/")
		case errors.Is(err, unix.ENOENT):
			err = errDirGone
		case err != nil:
			err = s.fail(op, key, err)
		default:
			committed = true
		}
	}
	if err != nil {
		return "", err
	}
	// Make the new name durable. Failing here means the object is in place
	// but might not survive a crash: report it so the caller retries.
	if err := unix.Fsync(dirfd); err != nil {
		return "", s.fail(op, key, fmt.Errorf("fsync of directory: %w", err))
	}
	return etagOf(&st), nil
}

func etagOf(st *unix.Stat_t) string {
	return fmt.Sprintf("%d-%d-%d", st.Size, st.Mtim.Nano(), st.Ino)
}

// copyRange copies p's range of its source object into fd at off.
func (s *Store) copyRange(root, fd int, off int64, p remote.Part) error {
	src, err := openBeneath(root, p.From, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: %s is gone", remote.ErrSourceChanged, p.From)
	}
	if err != nil {
		return err
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || (p.FromETag != "" && etagOf(&st) != p.FromETag) || p.FromOff+p.Size > st.Size {
		return fmt.Errorf("%w: %s", remote.ErrSourceChanged, p.From)
	}
	roff, woff := p.FromOff, off
	for left := p.Size; left > 0; {
		n, err := unix.CopyFileRange(src, &roff, fd, &woff, int(min(left, 1<<30)), 0)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: %s ended early", remote.ErrSourceChanged, p.From)
		}
		left -= int64(n)
	}
	return nil
}

// errShortBody: a part's body ended before its size, which no retry of
// the same body fixes.
var errShortBody = errors.New("body ended early")

func writeBody(ctx context.Context, f *os.File, off int64, p remote.Part) error {
	if _, err := p.Body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding body: %w", err)
	}
	n, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(ctxReader{ctx, p.Body}, p.Size))
	if err == nil && n < p.Size {
		err = fmt.Errorf("%w: after %d of %d bytes", errShortBody, n, p.Size)
	}
	return err
}

// applyMeta sets what meta says of times and mode on fd, and stores every
// key as a user xattr. Best effort: a file system without user xattrs
// keeps the times and mode.
func applyMeta(fd int, meta map[string]string) {
	for k, v := range meta {
		unix.Fsetxattr(fd, "user."+k, []byte(v), 0)
	}
	if m, err := strconv.ParseUint(meta["mode"], 8, 32); err == nil {
		unix.Fchmod(fd, uint32(m)&0o777)
	}
	if t, ok := parseMtime(meta["mtime"]); ok {
		// utimensat(fd, NULL, ...) sets the times of fd itself.
		ts := [2]unix.Timespec{unix.NsecToTimespec(t), unix.NsecToTimespec(t)}
		unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	}
}

// parseMtime reads "seconds[.fraction]" into nanoseconds.
func parseMtime(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s == "" {
		return 0, false
	}
	ns := int64(0)
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, false
		}
	}
	return n*1e9 + ns, true
}

// MinPartSize is 256 KiB: a part may be any size here (copy_file_range
// has no minimum), and a scattered change of a large file then rewrites
// about 256 KiB per change instead of S3's 5 MiB minimum part.
func (s *Store) MinPartSize() int64 { return 256 << 10 }

// AbortCompositions has nothing to free: an interrupted Compose leaves at
// most a temporary file, which List does not show and the next Put of the
// directory ignores.
func (s *Store) AbortCompositions(ctx context.Context, prefix string) (int, error) { return 0, nil }
