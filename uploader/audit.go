package uploader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
	"golang.org/x/sys/unix"
)

// AuditJournal is what the remote audit needs of the journal.
type AuditJournal interface {
	Inventory() ([]journal.Record, error)
	Reship([]journal.Lost) error
	Path(journal.ID) (string, error)
	UUID() string
}

// AuditReport is what an audit found.
type AuditReport struct {
	Time      time.Time `json:"time"`
	Seconds   float64   `json:"seconds"`
	Inodes    int       `json:"inodes"`   // compared with the remote
	Dentries  int       `json:"dentries"` // compared with the remote
	Skipped   int       `json:"skipped"`  // with work pending: the remote may lag on purpose
	Missing   int       `json:"missing"`  // manifests, segment manifests, data objects or dentries gone
	Stale     int       `json:"stale"`    // manifests older than the version shipped (a restored copy)
	Reshipped int       `json:"reshipped"`
	Problems  []string  `json:"problems,omitempty"` // the first few, one line each
}

// Lost reports whether the audit found anything the remote lost.
func (r *AuditReport) Lost() bool { return r.Missing+r.Stale > 0 }

func (r *AuditReport) String() string {
	s := fmt.Sprintf("remote audit: %d inodes and %d dentries compared with the remote in %.1fs", r.Inodes, r.Dentries, r.Seconds)
	if r.Skipped > 0 {
		s += fmt.Sprintf(" (%d with work pending left alone)", r.Skipped)
	}
	if !r.Lost() {
		return s + ": all present"
	}
	s += fmt.Sprintf(": %d missing, %d stale", r.Missing, r.Stale)
	if r.Reshipped > 0 {
		s += fmt.Sprintf("; %d inodes re-journaled to ship again", r.Reshipped)
	}
	return s
}

const maxProblems = 20

func (r *AuditReport) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Audit compares the journal's record of what was shipped with what the
// remote holds, reading no file data: three prefix listings (manifests,
// data objects, dentries) and each inode's manifest. It finds a remote
// changed behind syncfs's back: objects deleted (a lifecycle rule, a
// mistaken rm), a prefix restored from an older copy. With repair, every
// inode whose manifest or one of its parts is gone or stale is journaled
// dirty again in full, and every lost dentry logged again, so the next
// flush ships them.
//
// Order matters: the inventory is taken before the listings, and the
// listings before the manifests are read, so that a commit racing the
// audit shows as a manifest newer than the journal recorded (left alone)
// and never as parts missing from a listing made before they were put.
func (u *Uploader) Audit(ctx context.Context, j AuditJournal, repair bool) (*AuditReport, error) {
	start := time.Now()
	rep := &AuditReport{Time: start.UTC()}
	inv, err := j.Inventory()
	if err != nil {
		return nil, err
	}
	if err := u.ensureRootMarker(ctx, j.UUID()); err != nil {
		return nil, err
	}
	manifests, segments, dentries := map[string]bool{}, map[string]bool{}, map[string]bool{}
	data := map[string]int64{}
	err = u.store.List(ctx, "i/", func(oi remote.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, "/m") {
			manifests[oi.Key] = true
		} else {
			segments[oi.Key] = true
		}
		return nil
	})
	if err == nil {
		err = u.store.List(ctx, "d/", func(oi remote.ObjectInfo) error { data[oi.Key] = oi.Size; return nil })
	}
	if err == nil {
		err = u.store.List(ctx, "n/", func(oi remote.ObjectInfo) error { dentries[oi.Key] = true; return nil })
	}
	if err != nil {
		return nil, fmt.Errorf("remote audit: listing: %w", err)
	}

	var (
		mu   sync.Mutex
		lost []journal.Lost
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 16)
		ferr error
	)
	for _, r := range inv {
		if r.Pending {
			rep.Skipped++
			continue
		}
		l := journal.Lost{Record: r}
		for _, n := range r.Names {
			rep.Dentries++
			if !dentries[format.DentryKey(format.ID(n.Parent), n.Name)] {
				rep.Missing++
				rep.problem("dentry %s missing", format.DentryKey(format.ID(n.Parent), n.Name))
				l.Dentries = true
			}
		}
		rep.Inodes++
		key := format.InodeKey(format.ID(r.ID))
		if !manifests[key] {
			rep.Missing++
			rep.problem("manifest %s missing", key)
			l.Manifest = true
			lost = append(lost, l)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			why, stale, err := u.auditManifest(ctx, r, segments, data)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if ferr == nil {
					ferr = err
				}
				return
			case why != "":
				if stale {
					rep.Stale++
				} else {
					rep.Missing++
				}
				rep.problem("%s: %s", key, why)
				l.Manifest = true
			}
			if l.Manifest || l.Dentries {
				lost = append(lost, l)
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		return nil, fmt.Errorf("remote audit: %w", ferr)
	}
	if repair && len(lost) > 0 {
		for i := range lost {
			if lost[i].Kind == journal.KindFile && lost[i].Manifest {
				lost[i].Size = u.backingSize(j, lost[i].ID)
			}
		}
		if err := j.Reship(lost); err != nil {
			return nil, fmt.Errorf("remote audit: re-journaling what the remote lost: %w", err)
		}
		for _, l := range lost {
			if l.Manifest {
				// Ship from what the remote holds now, and sweep the
				// leftovers of what it held before.
				u.cache.forget(format.ID(l.ID))
				u.markSweep(l.ID)
			}
		}
		rep.Reshipped = len(lost)
		u.Wake()
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// auditManifest reads inode r's manifest and checks it against the
// journal's record and the listings. why is empty when all is well.
func (u *Uploader) auditManifest(ctx context.Context, r journal.Record, segments map[string]bool, data map[string]int64) (why string, stale bool, err error) {
	fid := format.ID(r.ID)
	m, err := readManifest(ctx, u.store, fid)
	if errors.Is(err, remote.ErrNotFound) {
		return "deleted during the audit", false, nil
	}
	if err != nil {
		if errors.Is(err, format.ErrCorrupt) {
			return fmt.Sprintf("unreadable: %v", err), false, nil
		}
		return "", false, err
	}
	switch {
	case r.Version > 0 && m.Version < r.Version:
		return fmt.Sprintf("version %d, but version %d was shipped", m.Version, r.Version), true, nil
	case r.Version > 0 && m.Version > r.Version:
		return "", false, nil // committed since the inventory: in flux, not judged
	}
	for s, ref := range m.Segments {
		if ref.Version == 0 {
			continue
		}
		if k := format.SegmentKey(fid, uint32(s), ref.Version); !segments[k] {
			why = fmt.Sprintf("segment manifest %s missing", k)
			break
		}
	}
	if why == "" {
		for _, o := range m.Objects {
			k := format.DataKey(fid, o.Seq)
			if size, ok := data[k]; !ok || size != o.Stored {
				why = fmt.Sprintf("data object %s missing or of the wrong size", k)
				break
			}
		}
	}
	if why != "" && r.Version == 0 {
		// No recorded version to tell a racing commit from a loss: a
		// manifest that changed since it was read is in flux.
		if again, err := readManifest(ctx, u.store, fid); err == nil && again.Version != m.Version {
			return "", false, nil
		}
	}
	return why, false, nil
}

func readManifest(ctx context.Context, store remote.Store, id format.ID) (*format.Manifest, error) {
	b, err := remote.ReadAll(ctx, store, format.InodeKey(id), maxManifestObject)
	if err != nil {
		return nil, err
	}
	return format.DecodeManifest(b)
}

// backingSize is the size of id's backing file now, 0 if it cannot be
// seen (it is then gone, and its unlink ships instead).
func (u *Uploader) backingSize(j AuditJournal, id journal.ID) int64 {
	p, err := j.Path(id)
	if err != nil {
		return 0
	}
	var st unix.Stat_t
	dir, name := beneath.Split(p)
	if err := u.local.WithDir(dir, func(fd int) error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return 0
	}
	return st.Size
}

// ensureRootMarker puts syncfs.json back if it is gone (the prefix was
// emptied): readers start from it. It names the format this uploader
// writes, which may be format 1 for a prefix created before format 2.
func (u *Uploader) ensureRootMarker(ctx context.Context, uuid string) error {
	_, err := u.store.Stat(ctx, format.RootKey)
	if errors.Is(err, remote.ErrNotFound) {
		want := format.NewRootFormat1(uuid)
		if u.granule == format.PageSize {
			want = format.NewRoot(uuid)
		}
		_, err = claimRemote(ctx, u.store, want)
	}
	return err
}
