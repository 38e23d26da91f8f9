// Package reconcile finds the changes the journal did not see and records
// them: files a killed daemon had open for write (their last writes may
// have been only in its memory), and entries created, changed or removed
// in the backing directory around the mount (by a user on the node, or by
// a tool before the mount started). The remote then follows the backing
// directory, which is the truth.
//
// Namespace differences are found by comparing directory listings with
// the journal's dentries; content differences of a file whose size, mtime
// or ctime moved since the journal last saw it complete are found by
// comparing its block hashes with those shipped (compare.go; the journal
// keeps them, or the uploader's manifests have them). A Scan does the
// whole tree (mount start, syncfs recover, watch start); a Watcher
// (fsnotify) reconciles what changes while running.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// Journal is what reconciling needs of the journal.
type Journal interface {
	LookupPath(rel string) (journal.ID, journal.Kind, bool)
	Children(dir journal.ID) (map[string]journal.Entry, error)
	AdoptIfAbsent(parent journal.ID, name string, kind journal.Kind, target string, size int64) (journal.ID, bool, error)
	RemoveIf(parent journal.ID, name string, id journal.ID) error
	OpenMarks() ([]journal.ID, error)
	ClearOpenMark(journal.ID) error
	Activity(journal.ID) (open bool, last time.Time)

	// For comparing a file's contents with what was shipped.
	Path(journal.ID) (string, error)
	Kind(journal.ID) (journal.Kind, error)
	Target(journal.ID) (string, bool)
	Hashes(id journal.ID, seg int) []byte
	LastSeen(journal.ID) (journal.Seen, bool)
	SetSeen(map[journal.ID]journal.Seen) error
	RecordWrite(id journal.ID, off, n int64)
	Truncate(id journal.ID, oldSize, size int64) error
	Setattr(journal.ID) error
}

var _ Journal = (*journal.Journal)(nil)

// Shipped is what the uploader knows of the remote's copy of a file
// (uploader/shipped.go).
type Shipped interface {
	// Hold keeps commits of id off until release is called.
	Hold(id journal.ID) (release func())
	// Manifest is id's inode manifest as last shipped, nil if never.
	Manifest(ctx context.Context, id journal.ID) (*format.Manifest, error)
	// SegmentHashes are the block hashes of segment seg of m.
	SegmentHashes(ctx context.Context, id journal.ID, m *format.Manifest, seg int) ([]byte, error)
}

// Reconciler brings the journal in line with a backing directory.
type Reconciler struct {
	dir     *beneath.Dir
	j       Journal
	shipped Shipped
	ex      *exclude.Matcher
	log     *log.Logger

	// Mounted says the backing directory is under a mount, whose own
	// changes the journal records as they happen: a file whose ctime is
	// not after the journal's last record of a change to it is as the
	// mount left it and is not compared (see ownChange).
	Mounted bool

	// Counters, for status and tests.
	Adopted, Removed, Compared, Changed atomic.Int64
	ReadBytes                           atomic.Int64 // read from the backing dir to compare
}

// New returns a reconciler of the backing directory dir.
func New(dir *beneath.Dir, j Journal, shipped Shipped, ex *exclude.Matcher, logger *log.Logger) *Reconciler {
	if logger == nil {
		logger = log.Default()
	}
	return &Reconciler{dir: dir, j: j, shipped: shipped, ex: ex, log: logger}
}

// Recover compares every file marked open for write by a process that is
// gone, and clears the marks. marks is OpenMarks() taken before this
// process opened anything.
func (r *Reconciler) Recover(ctx context.Context, marks []journal.ID) error {
	var first error
	for _, id := range marks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		changed, err := r.compare(ctx, id)
		if err != nil && !errors.Is(err, journal.ErrNotFound) {
			r.log.Printf("recovery: comparing inode %v: %v", id, err)
			if first == nil {
				first = err
			}
			continue
		}
		r.Compared.Add(1)
		if changed {
			r.Changed.Add(1)
		}
		if err := r.j.ClearOpenMark(id); err != nil {
			return err
		}
	}
	return first
}

// Scan walks the whole backing tree and reconciles every directory and
// every file whose state moved since the journal last saw it complete.
func (r *Reconciler) Scan(ctx context.Context) error {
	return r.dirTree(ctx, "", journal.RootID, true)
}

// Dir reconciles directory rel (its entries; with deep, the subtrees of
// its directories too).
func (r *Reconciler) Dir(ctx context.Context, rel string, deep bool) error {
	id, kind, ok := r.j.LookupPath(rel)
	if !ok || kind != journal.KindDir {
		return nil // not (yet) journaled: reconciling its parent adopts it
	}
	return r.dirTree(ctx, rel, id, deep)
}

// File compares the file at rel with what was shipped, if it moved.
func (r *Reconciler) File(ctx context.Context, rel string) error {
	id, kind, ok := r.j.LookupPath(rel)
	if !ok || kind != journal.KindFile {
		return nil
	}
	var st unix.Stat_t
	dirRel, name := beneath.Split(rel)
	err := r.dir.WithDir(dirRel, func(fd int) error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if err != nil {
		return nil // gone: the directory's reconciliation removes it
	}
	return r.file(ctx, id, &st)
}

func (r *Reconciler) file(ctx context.Context, id journal.ID, st *unix.Stat_t) error {
	if r.ownChange(id, st) || r.unchanged(id, st) {
		return nil
	}
	r.Compared.Add(1)
	changed, err := r.compare(ctx, id)
	if changed {
		r.Changed.Add(1)
	}
	return err
}

type localEntry struct {
	st     unix.Stat_t
	kind   journal.Kind
	target string
}

// dirTree reconciles directory rel with journal ID id.
func (r *Reconciler) dirTree(ctx context.Context, rel string, id journal.ID, deep bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	local, err := r.list(rel)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("scanning %q: %w", rel, err)
	}
	known, err := r.j.Children(id)
	if err != nil {
		return err
	}
	for name, le := range local {
		childRel := beneath.Join(rel, name)
		je, ok := known[name]
		delete(known, name)
		if r.ex.Match(childRel) {
			if ok { // excluded since it was journaled: gone for the remote
				r.remove(id, rel, name, je.ID)
			}
			continue
		}
		if !ok || je.Kind != le.kind {
			if ok {
				r.remove(id, rel, name, je.ID)
			}
			if err := r.adopt(ctx, id, rel, name, le); err != nil {
				if errors.Is(err, journal.ErrNotFound) {
					return nil // this directory left the journal meanwhile
				}
				return err
			}
			continue
		}
		switch le.kind {
		case journal.KindDir:
			if deep {
				if err := r.dirTree(ctx, childRel, je.ID, deep); err != nil {
					return err
				}
			}
		default:
			if err := r.file(ctx, je.ID, &le.st); err != nil {
				r.log.Printf("reconciling %q: %v", childRel, err)
			}
		}
	}
	for name, je := range known {
		r.remove(id, rel, name, je.ID)
	}
	return nil
}

// list reads directory rel of the backing dir with each entry's stat.
func (r *Reconciler) list(rel string) (map[string]localEntry, error) {
	fd, err := r.dir.Open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	names, err := beneath.ReadNames(fd)
	if err != nil {
		return nil, err
	}
	out := make(map[string]localEntry, len(names))
	for _, name := range names {
		var e localEntry
		if err := unix.Fstatat(fd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone since the listing
		}
		switch e.st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			e.kind = journal.KindFile
		case unix.S_IFDIR:
			e.kind = journal.KindDir
		case unix.S_IFLNK:
			// The target is read only to adopt the link (adopt): a
			// readlink updates the link's atime under relatime, and a
			// listing must not undo a utimensat made through the mount.
			e.kind = journal.KindSymlink
		default:
			continue // fifos, sockets, devices: not shipped
		}
		out[name] = e
	}
	return out, nil
}

// adopt records an entry the journal did not know, and for a directory
// everything below it.
func (r *Reconciler) adopt(ctx context.Context, parent journal.ID, rel, name string, le localEntry) error {
	// The mount may have removed it since the listing.
	var st unix.Stat_t
	if r.dir.WithDir(rel, func(fd int) error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }) != nil {
		return nil
	}
	if _, _, known := r.j.LookupPath(beneath.Join(rel, name)); known {
		return nil // the mount recorded it since the listing (or has it queued)
	}
	if le.kind == journal.KindSymlink {
		err := r.dir.WithDir(rel, func(fd int) error {
			buf := make([]byte, 4096)
			n, err := unix.Readlinkat(fd, name, buf)
			le.target = string(buf[:max(n, 0)])
			return err
		})
		if err != nil {
			return nil // gone since the listing
		}
	}
	id, adopted, err := r.j.AdoptIfAbsent(parent, name, le.kind, le.target, le.st.Size)
	if err != nil || !adopted {
		return err // not adopted: the mount recorded it meanwhile
	}
	r.Adopted.Add(1)
	if le.kind == journal.KindDir {
		return r.dirTree(ctx, beneath.Join(rel, name), id, true)
	}
	return nil
}

// remove drops the journal entry (parent, name) -> id whose backing entry
// is gone, unless it is back or names another inode now (the mount may
// have made it since the listing).
func (r *Reconciler) remove(parent journal.ID, rel, name string, id journal.ID) {
	var st unix.Stat_t
	if r.dir.WithDir(rel, func(fd int) error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }) == nil && !r.ex.Match(beneath.Join(rel, name)) {
		return
	}
	if err := r.j.RemoveIf(parent, name, id); err != nil && !errors.Is(err, journal.ErrNotFound) {
		r.log.Printf("reconciling %q: %v", beneath.Join(rel, name), err)
		return
	}
	r.Removed.Add(1)
}

// StatAt stats entry name of directory dir of the backing dir.
func (r *Reconciler) StatAt(dir, name string, st *unix.Stat_t) error {
	return r.dir.WithDir(dir, func(fd int) error { return unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

// ownChange reports whether, under a mount, the file is as the mount last
// left it: its ctime is not after the last change the journal recorded
// for it. Someone else's write after that moves the ctime past it. (A
// write by someone else between two of the mount's writes is taken for
// the mount's; the next comparison of the file catches it.) Without this,
// every inotify event on a directory would compare each file in it that
// the mount changed since it was last shipped, reading it all to hash it.
// At the start of a mount no change is recorded yet, so the first scan
// compares everything that moved.
func (r *Reconciler) ownChange(id journal.ID, st *unix.Stat_t) bool {
	if !r.Mounted {
		return false
	}
	_, last := r.j.Activity(id)
	return !last.IsZero() && st.Ctim.Nano() <= last.UnixNano()
}
