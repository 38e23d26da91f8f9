package download

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
)

// parentDir opens the directory that will hold the entry at parts,
// beneath root with symlinks refused, and returns it with the entry's
// name, checked once more.
func parentDir(root int, parts []string) (int, string, error) {
	name := parts[len(parts)-1]
	if err := format.CheckName(name); err != nil {
		return -1, "", err
	}
	dir := path.Join(parts[:len(parts)-1]...)
	if dir == "" {
		dir = "."
	}
	fd, err := beneath.Openat2(root, dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("opening %s: %w", dir, err)
	}
	return fd, name, nil
}

// tempName is a fixed name beside name for its partial copy, so that a
// later get finds it and resumes. It is short whatever name's length.
func tempName(kind, name string) string {
	sum := sha256.Sum256([]byte(name))
	return ".syncfs-" + kind + "-" + hex.EncodeToString(sum[:8])
}

// mkdir makes the directory d (mode 0700 until its attributes are set at
// the end, so that it can be filled). An existing directory is used; a
// symlink in the way is replaced; anything else is an error.
func (g *getter) mkdir(root int, d *item) error {
	dirfd, name, err := parentDir(root, d.parts)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	err = unix.Mkdirat(dirfd, name, 0o700)
	if err != unix.EEXIST {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if st.Mode&0o700 != 0o700 {
			return unix.Fchmodat(dirfd, name, st.Mode&0o7777|0o700, 0)
		}
		return nil
	case unix.S_IFLNK:
		if err := unix.Unlinkat(dirfd, name, 0); err != nil {
			return err
		}
		return unix.Mkdirat(dirfd, name, 0o700)
	}
	return errors.New("a non-directory is in the way")
}

// setDirAttrs gives directory d its mode, owner and mtime.
func (g *getter) setDirAttrs(root int, d *item) error {
	dirfd, name := root, "."
	if len(d.parts) > 0 {
		var err error
		if dirfd, name, err = parentDir(root, d.parts); err != nil {
			return err
		}
		defer unix.Close(dirfd)
	}
	if g.chown {
		if err := unix.Fchownat(dirfd, name, int(d.m.UID), int(d.m.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	if err := unix.Fchmodat(dirfd, name, safeMode(d.m.Mode), 0); err != nil {
		return err
	}
	return setMtime(dirfd, name, d.m.Mtime)
}

// safeMode drops set-user-ID and set-group-ID: a remote must not be able
// to plant a privileged program through get.
func safeMode(mode uint32) uint32 { return mode & 0o1777 }

func setMtime(dirfd int, name string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(dirfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// symlink creates the symlink it (never following anything): made under
// a temporary name and renamed over whatever non-directory is there.
func (g *getter) symlink(root int, it *item) error {
	dirfd, name, err := parentDir(root, it.parts)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	if it.m.Target == "" {
		return fmt.Errorf("%w: empty symlink target", format.ErrCorrupt)
	}
	buf := make([]byte, format.MaxTarget+1)
	if n, err := unix.Readlinkat(dirfd, name, buf); err == nil && string(buf[:n]) == it.m.Target {
		return g.linkAttrs(dirfd, name, it)
	}
	tmp := tempName("link", name)
	unix.Unlinkat(dirfd, tmp, 0)
	if err := unix.Symlinkat(it.m.Target, dirfd, tmp); err != nil {
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	return g.linkAttrs(dirfd, name, it)
}

func (g *getter) linkAttrs(dirfd int, name string, it *item) error {
	if g.chown {
		if err := unix.Fchownat(dirfd, name, int(it.m.UID), int(it.m.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return setMtime(dirfd, name, it.m.Mtime)
}
