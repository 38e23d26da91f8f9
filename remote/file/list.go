package file

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/remote"
)

// List walks the directories under prefix in key order. Entries are sorted
// with a directory named "d" compared as "d/", which makes the walk's order
// the lexical order of the full keys ("d.txt" < "d/x" < "d0"). Temporary
// files, names that are not valid keys, symlinks and other non-regular
// files are skipped, and so are empty directories (they hold no objects).
func (s *Store) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return s.fail("list", prefix, err)
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer unix.Close(root)

	// Start at the deepest directory the prefix names completely.
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		if remote.ValidKey(dir) != nil {
			return nil // no valid key starts with this prefix
		}
	}
	fd, err := openBeneath(root, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return s.fail("list", prefix, err)
	}
	return s.walk(ctx, fd, dir, prefix, fn)
}

type entry struct {
	name string
	sort string // name, or name+"/" for a directory
	dir  bool
	st   unix.Stat_t
}

// walk lists the directory open as fd (which it closes), whose path from
// the root is rel.
func (s *Store) walk(ctx context.Context, fd int, rel, prefix string, fn func(remote.ObjectInfo) error) error {
	f := os.NewFile(uintptr(fd), rel)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return s.fail("list", prefix, err)
	}
	ents := make([]entry, 0, len(names))
	for _, name := range names {
		if strings.HasPrefix(name, remote.ReservedPrefix) {
			removeStaleTemp(fd, name)
			continue
		}
		full := join(rel, name)
		// Prune before the stat: only names on the prefix's path matter.
		if !strings.HasPrefix(full, prefix) && !strings.HasPrefix(prefix, full+"/") && !strings.HasPrefix(prefix, full) {
			continue
		}
		e := entry{name: name, sort: name}
		if err := unix.Fstatat(fd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // deleted since readdir
			}
			f.Close()
			return s.fail("list", prefix, err)
		}
		switch e.st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			e.dir, e.sort = true, name+"/"
			if !strings.HasPrefix(full+"/", prefix) && !strings.HasPrefix(prefix, full+"/") {
				continue
			}
		case unix.S_IFREG:
			if !strings.HasPrefix(full, prefix) || remote.ValidKey(full) != nil {
				continue
			}
		default:
			continue
		}
		ents = append(ents, e)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].sort < ents[j].sort })

	defer f.Close()
	for i := range ents {
		e := &ents[i]
		if err := ctx.Err(); err != nil {
			return s.fail("list", prefix, err)
		}
		full := join(rel, e.name)
		if !e.dir {
			if err := fn(info(full, &e.st)); err != nil {
				return err
			}
			continue
		}
		sub, err := unix.Openat(fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed since readdir (a Delete pruned it)
			}
			return s.fail("list", prefix, err)
		}
		if err := s.walk(ctx, sub, full, prefix, fn); err != nil {
			return err
		}
	}
	return nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// staleTemp is how old a backend temporary file must be before a listing
// removes it: one left by a writer that died in the middle of a put. No
// put of the single writer of a prefix takes that long.
const staleTemp = 6 * time.Hour

func removeStaleTemp(dirfd int, name string) {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	if time.Since(time.Unix(st.Mtim.Sec, st.Mtim.Nsec)) > staleTemp {
		unix.Unlinkat(dirfd, name, 0)
	}
}
