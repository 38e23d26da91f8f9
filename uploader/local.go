package uploader

import (
	"github.com/syncfs/syncfs/internal/localfile"
	"github.com/syncfs/syncfs/journal"
)

// openLocal opens the backing file of id, taking a symlink's target from
// the journal where it has one.
func (u *Uploader) openLocal(id journal.ID, path string, kind journal.Kind) (*localfile.File, error) {
	return localfile.Open(u.local, path, kind, func() (string, bool) { return u.j.Target(id) })
}
