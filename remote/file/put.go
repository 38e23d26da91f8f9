package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

// maxDirRaces bounds how often Put starts over because a concurrent Delete
// removed the (then empty) directory it was about to write into.
const maxDirRaces = 10

// Put writes the object to a temporary file next to it and renames (or,
// with IfAbsent, links) it into place.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	if err := remote.ValidKey(key); err != nil {
		return err
	}
	if size < 0 {
		return remote.Permanent(s.fail("put", key, fmt.Errorf("negative size %d", size)))
	}
	if err := ctx.Err(); err != nil {
		return s.fail("put", key, err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return s.fail("put", key, fmt.Errorf("rewinding body: %w", err))
	}
	_, err := s.write(ctx, "put", key, []remote.Part{{Body: body, Size: size}}, nil, opts.IfAbsent)
	return err
}

// errDirGone: the object's directory vanished under Put (a concurrent
// Delete removed it while it was empty). Put then starts over.
var errDirGone = errors.New("directory removed concurrently")

// link creates name as a second link to tmp, failing with ErrExists if
// name exists. The temporary name is removed by the caller either way.
func (s *Store) link(dirfd int, tmp, key, name string) error {
	err := unix.Linkat(dirfd, tmp, dirfd, name, 0)
	if err != nil {
		// Over NFS the server may have made the link and the reply been
		// lost: a retransmitted LINK then says EEXIST. The link count of the
		// temporary file tells the truth (see open(2), O_EXCL).
		var st unix.Stat_t
		if unix.Fstatat(dirfd, tmp, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Nlink == 2 {
			err = nil
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return s.conflict("put", key, "keys exist under "+key+"/")
		}
		return &remote.Error{Store: s.name, Op: "put", Key: key, Class: remote.ErrExists, Msg: "object already exists"}
	case errors.Is(err, unix.ENOENT):
		return errDirGone
	}
	return s.fail("put", key, err)
}

// mkdirAll creates the directories of dir under root and returns the last
// one open for reading. A component that exists as an object is a key
// conflict. A directory created here is made durable by fsyncing its
// parent, so that a crash cannot lose an object's directory entry.
func (s *Store) mkdirAll(root int, key, dir string) (int, error) {
	cur, err := unix.Dup(root)
	if err != nil {
		return -1, s.fail("put", key, err)
	}
	if dir == "" {
		return cur, nil
	}
	parts := strings.Split(dir, "/")
	for i, p := range parts {
		created := false
		switch err := unix.Mkdirat(cur, p, 0o777); {
		case err == nil:
			created = true
		case errors.Is(err, unix.EEXIST):
		case errors.Is(err, unix.ENOENT):
			unix.Close(cur)
			return -1, errDirGone
		default:
			unix.Close(cur)
			return -1, s.fail("put", key, err)
		}
		next, err := unix.Openat(cur, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil && created {
			err = unix.Fsync(cur)
			if err != nil {
				unix.Close(next)
			}
		}
		if errors.Is(err, unix.ENOTDIR) {
			// O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a symlink too.
			var st unix.Stat_t
			if unix.Fstatat(cur, p, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		unix.Close(cur)
		switch {
		case err == nil:
			cur = next
		case errors.Is(err, unix.ENOTDIR):
			return -1, s.conflict("put", key, strings.Join(parts[:i+1], "/")+" is an object")
		case errors.Is(err, unix.ENOENT):
			return -1, errDirGone
		default:
			return -1, s.fail("put", key, err)
		}
	}
	return cur, nil
}

// tempName returns a fresh name for a temporary file. The random part makes
// names unique across processes and nodes sharing the directory.
func tempName() string {
	var b [12]byte
	rand.Read(b[:])
	return remote.ReservedPrefix + "put-" + hex.EncodeToString(b[:])
}

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
