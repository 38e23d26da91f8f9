package fs

import (
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// adoptTree records the entry name of directory parent (at rel), found in
// the backing directory, as new to the journal, and for a directory
// everything below it: what a rename from an excluded name brings in. It
// returns the entry's ID (0 when it is not journaled).
func (fs *FS) adoptTree(parent *node, name, rel string) (journal.ID, error) {
	pid := parent.jid()
	if pid == 0 || fs.exclude.Match(rel) {
		return 0, nil
	}
	dir, _ := beneath.Split(rel)
	var id journal.ID
	err := fs.b.WithDir(dir, func(dirfd int) error {
		var err error
		id, err = fs.adoptAt(dirfd, pid, name, rel)
		return err
	})
	return id, err
}

func (fs *FS) adoptAt(dirfd int, pid journal.ID, name, rel string) (journal.ID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	kind := kindOf(st.Mode)
	if kind == 0 || fs.exclude.Match(rel) {
		return 0, nil
	}
	target := ""
	if kind == journal.KindSymlink {
		t, err := readlinkat(dirfd, name)
		if err != nil {
			return 0, err
		}
		target = t
	}
	if _, _, ok := fs.j.Lookup(pid, name); ok {
		if err := fs.j.Remove(pid, name); err != nil {
			return 0, err
		}
	}
	id, err := fs.j.Adopt(pid, name, kind, target, st.Size)
	if err != nil || kind != journal.KindDir {
		return id, err
	}
	sub, err := beneath.Openat2(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return id, err
	}
	defer unix.Close(sub)
	names, err := beneath.ReadNames(sub)
	if err != nil {
		return id, err
	}
	for _, child := range names {
		if _, err := fs.adoptAt(sub, id, child, beneath.Join(rel, child)); err != nil {
			return id, err
		}
	}
	return id, nil
}
