package browse

import (
	"fmt"
	"sync"

	"github.com/syncfs/syncfs/format"
)

// Visited is the set of directories a tree walk has entered. syncfs never
// writes a directory under two names, so a directory met twice is a
// hostile or corrupt remote (a dentry pointing back at an ancestor): a
// walker that enters it again would recurse for ever, so every walker
// (ls -R, get, verify) asks Enter first and skips what it refuses.
// Safe for concurrent use.
type Visited struct {
	mu   sync.Mutex
	seen map[format.ID]string
}

// Enter records directory id at path p. It returns an error wrapping
// ErrCorrupt, naming where id was met first, if it was met before.
func (v *Visited) Enter(id format.ID, p string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[format.ID]string{}
	}
	if first, ok := v.seen[id]; ok {
		if first == "" {
			first = "."
		}
		return fmt.Errorf("%w: directory %v is also at %s (a cycle in the remote's dentries): not entered again", ErrCorrupt, id, first)
	}
	v.seen[id] = p
	return nil
}
