package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/syncfs/syncfs/internal/beneath"
	"golang.org/x/sys/unix"
)

// Watcher reconciles, while running, what changes in the backing
// directory: it watches every directory with inotify (fsnotify), and
// after a change settles it reconciles the directory (names) or the file
// (contents). Under a mount, most changes are the mount's own: a file the
// mount wrote within the quiet period, or a directory it changed, is
// left alone (the journal has it). Without a mount (syncfs watch) every
// change counts.
type Watcher struct {
	r      *Reconciler
	root   string
	quiet  time.Duration // a change must be this old before it is looked at
	maxAge time.Duration // ...but none waits longer than this

	mu          sync.Mutex
	mountDirs   map[string]time.Time // directory -> last namespace change by the mount
	dirs, files map[string]pendingChange
	deep        map[string]bool // new directories: reconcile their whole subtree
	fullScan    bool
	limited     bool            // a watch could not be added: rescan periodically
	unwatched   map[string]bool // the directories that could not be watched
	Rescans     int             // full rescans done, for tests
	busy        int             // changes taken for reconciling, not done yet

	Events atomic.Int64 // inotify events received, for status
}

// Pending returns how many directories and files wait to settle or are
// being reconciled.
func (w *Watcher) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs) + len(w.files) + w.busy
}

type pendingChange struct{ first, last time.Time }

// WatchOptions tune a Watcher.
type WatchOptions struct {
	// Quiet is how long a change must settle before it is reconciled, and
	// how long the mount's own changes are ignored. Default 1s.
	Quiet time.Duration
	// MaxAge bounds how long a change that keeps changing waits. Default 30s.
	MaxAge time.Duration
}

// NewWatcher returns a watcher of the backing directory at root (an
// absolute path) reconciling with r.
func NewWatcher(r *Reconciler, root string, o WatchOptions) *Watcher {
	if o.Quiet <= 0 {
		o.Quiet = time.Second
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * time.Second
	}
	return &Watcher{r: r, root: root, quiet: o.Quiet, maxAge: o.MaxAge,
		mountDirs: map[string]time.Time{}, dirs: map[string]pendingChange{}, files: map[string]pendingChange{}, deep: map[string]bool{},
		unwatched: map[string]bool{}}
}

// MountChanged tells the watcher that the mount just changed directory
// rel (created, removed or renamed an entry in it), so the inotify events
// that follow are its own.
func (w *Watcher) MountChanged(rel string) {
	w.mu.Lock()
	w.mountDirs[rel] = time.Now()
	w.mu.Unlock()
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return err
	}
	defer fw.Close()
	w.addTree(fw, "")
	tick := time.NewTicker(w.quiet / 2)
	defer tick.Stop()
	lastScan := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			w.event(fw, ev)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.r.log.Printf("watch: inotify queue overflowed; rescanning the backing dir")
			} else {
				w.r.log.Printf("watch: %v; rescanning the backing dir", err)
			}
			w.mu.Lock()
			w.fullScan = true
			w.mu.Unlock()
		case <-tick.C:
			w.mu.Lock()
			limited := w.limited && time.Since(lastScan) > w.maxAge
			w.mu.Unlock()
			if limited && w.recheck(fw) {
				w.mu.Lock()
				w.fullScan = true
				w.mu.Unlock()
			}
			if w.process(ctx) {
				lastScan = time.Now()
			}
		}
	}
}

// addTree watches directory rel and every directory below it. A watch
// that cannot be added (the inotify limit, a path too long for inotify)
// is logged once, and the tree is then rescanned periodically instead:
// slower to notice, never blind.
func (w *Watcher) addTree(fw *fsnotify.Watcher, rel string) {
	abs := filepath.Join(w.root, rel)
	if err := fw.Add(abs); err != nil {
		w.mu.Lock()
		first := !w.limited
		w.limited = true
		w.unwatched[rel] = true
		w.mu.Unlock()
		if first {
			why := err.Error()
			if errors.Is(err, syscall.ENOSPC) {
				b, _ := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
				why = "inotify watch limit reached (fs.inotify.max_user_watches=" + strings.TrimSpace(string(b)) + "; raise it with sysctl)"
			}
			w.r.log.Printf("watch: cannot watch %q: %s; rescanning the whole tree every %v instead", abs, why, w.maxAge)
		}
		return
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			child := filepath.Join(rel, e.Name())
			if !w.r.ex.Match(child) {
				w.addTree(fw, child)
			}
		}
	}
}

// recheck looks again at the directories that could not be watched: one
// that is gone, or can be watched now (the inotify limit was raised), no
// longer needs rescans. It reports whether rescans are still needed; once
// none is, the watcher leaves rescan mode (and says so).
func (w *Watcher) recheck(fw *fsnotify.Watcher) bool {
	w.mu.Lock()
	rels := make([]string, 0, len(w.unwatched))
	for rel := range w.unwatched {
		rels = append(rels, rel)
	}
	w.mu.Unlock()
	for _, rel := range rels {
		var st unix.Stat_t
		dir, name := beneath.Split(rel)
		err := w.r.StatAt(dir, name, &st) // fd-relative: works beyond PATH_MAX
		w.mu.Lock()
		delete(w.unwatched, rel)
		w.mu.Unlock()
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR), err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR:
			// gone
		case err != nil:
			w.mu.Lock()
			w.unwatched[rel] = true // cannot tell: keep rescanning
			w.mu.Unlock()
		default:
			w.addTree(fw, rel) // watchable now? (it notes it again if not)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unwatched) == 0 && w.limited {
		w.limited = false
		w.r.log.Printf("watch: every directory is watched again; periodic rescans stop")
	}
	return w.limited
}

// Limited reports whether some directory cannot be watched, so that the
// tree is rescanned every MaxAge instead.
func (w *Watcher) Limited() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limited
}

func (w *Watcher) event(fw *fsnotify.Watcher, ev fsnotify.Event) {
	w.Events.Add(1)
	rel, err := filepath.Rel(w.root, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "../") {
		return
	}
	now := time.Now()
	dir := filepath.Dir(rel)
	if dir == "." {
		dir = ""
	}
	mark := func(m map[string]pendingChange, k string) {
		p, ok := m[k]
		if !ok {
			p.first = now
		}
		p.last = now
		m[k] = p
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Op.Has(fsnotify.Create) || ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename) {
		mark(w.dirs, dir)
		if ev.Op.Has(fsnotify.Create) {
			// A name beyond PATH_MAX cannot be looked at, nor watched:
			// addTree then falls back to rescans.
			if st, err := os.Lstat(ev.Name); (err == nil && st.IsDir()) || errors.Is(err, syscall.ENAMETOOLONG) {
				w.mu.Unlock()
				w.addTree(fw, rel)
				w.mu.Lock()
				mark(w.dirs, rel)
				w.deep[rel] = true // entries made before its watch
			}
		}
	}
	if ev.Op.Has(fsnotify.Write) || ev.Op.Has(fsnotify.Chmod) || ev.Op.Has(fsnotify.Create) {
		// Whose change it is, is decided when it settled (Reconciler.ownChange):
		// this runs for every write the mount makes and stays cheap.
		mark(w.files, rel)
	}
}

// Drain reconciles every change seen so far at once, settled or not: a
// flush wants them before its barrier.
func (w *Watcher) Drain(ctx context.Context) {
	w.processAll(ctx, true)
}

// process reconciles the changes that settled; it reports whether it did
// a full scan.
func (w *Watcher) process(ctx context.Context) bool {
	return w.processAll(ctx, false)
}

func (w *Watcher) processAll(ctx context.Context, now bool) bool {
	drain := now
	t := time.Now()
	due := func(p pendingChange) bool { return drain || t.Sub(p.last) >= w.quiet || t.Sub(p.first) >= w.maxAge }
	w.mu.Lock()
	full := w.fullScan
	w.fullScan = false
	var dirs, files []string
	deep := map[string]bool{}
	for d, p := range w.dirs {
		if mt, ok := w.mountDirs[d]; ok && !drain && t.Sub(mt) < w.quiet && t.Sub(p.first) < w.maxAge {
			continue // the mount is busy here; look when it is quiet
		}
		if due(p) {
			dirs = append(dirs, d)
			deep[d] = w.deep[d]
			delete(w.dirs, d)
			delete(w.deep, d)
		}
	}
	for f, p := range w.files {
		if due(p) {
			files = append(files, f)
			delete(w.files, f)
		}
	}
	for d, mt := range w.mountDirs {
		if t.Sub(mt) > w.maxAge {
			delete(w.mountDirs, d)
		}
	}
	if full {
		w.Rescans++
	}
	busy := len(dirs) + len(files)
	if full {
		busy++
	}
	w.busy += busy
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.busy -= busy
		w.mu.Unlock()
	}()
	if full {
		if err := w.r.Scan(ctx); err != nil {
			w.r.log.Printf("watch: rescan: %v", err)
		}
		return true
	}
	for _, d := range dirs {
		if err := w.r.Dir(ctx, d, deep[d]); err != nil {
			w.r.log.Printf("watch: %q: %v", d, err)
		}
	}
	for _, f := range files {
		if err := w.r.File(ctx, f); err != nil {
			w.r.log.Printf("watch: %q: %v", f, err)
		}
	}
	return false
}
