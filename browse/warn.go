package browse

import (
	"fmt"
	"log"
	"sync"
)

// warner logs each distinct problem once: a listing that meets the same
// hostile entry on every refresh must not flood the log.
type warner struct {
	l     *log.Logger
	quiet bool // leave out corrupt(): the caller reports those errors
	mu    sync.Mutex
	seen  map[string]bool
}

func newWarner(l *log.Logger, quiet bool) *warner {
	return &warner{l: l, quiet: quiet, seen: map[string]bool{}}
}

// corrupt logs a broken object met while reading a file or its
// manifests, whose error the read also returns.
func (w *warner) corrupt(format string, args ...any) {
	if !w.quiet {
		w.printf(format, args...)
	}
}

// printf logs a message once per distinct text: entries left out of a
// listing, which nobody else reports.
func (w *warner) printf(format string, args ...any) {
	if w.l == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	if w.seen[msg] {
		w.mu.Unlock()
		return
	}
	if len(w.seen) > 10000 { // bounded: forget and start over
		w.seen = map[string]bool{}
	}
	w.seen[msg] = true
	w.mu.Unlock()
	w.l.Print(msg)
}

// Warn logs a problem with the tree once (the FUSE layer's entries that
// are broken in ways only it sees, such as a dentry without a manifest).
func (t *Tree) Warn(format string, args ...any) {
	t.warn.printf("%s: "+format, append([]any{t.store}, args...)...)
}
