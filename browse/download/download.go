package download

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
)

// Options tunes Get; the zero value works.
type Options struct {
	// Parallel bounds the 8 MiB chunks fetched at once; default 8.
	Parallel int
	// Files bounds the files copied at once; default 8.
	Files int
	// Progress, if set, hears about the work as it goes.
	Progress Progress
	// Logger receives a line per entry skipped; nil discards them.
	Logger *log.Logger
}

// Progress is told what Get does; calls may come from several
// goroutines at once.
type Progress interface {
	// Planned gives the totals, once the tree has been listed.
	Planned(files int, bytes int64)
	// Bytes reports n more bytes of files done (fetched or found
	// already there).
	Bytes(n int64)
	// Done reports one file (or symlink) finished, or failed.
	Done(p string, size, fetched int64, err error)
}

// Result sums up a Get.
type Result struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // size of the files
	Fetched               int64 // bytes of them fetched from the store
	Kept                  int64 // bytes of them already there locally (holes not counted)
	Failed                int   // entries that could not be copied
}

// ErrFailed is wrapped by Get's error when some entries could not be
// copied (the others were).
var ErrFailed = errors.New("some entries could not be copied")

// item is one entry to copy: its path below the local directory.
type item struct {
	parts []string // path components below the local dir
	e     browse.Entry
	m     *format.Manifest
}

func (it *item) path() string { return path.Join(it.parts...) }

type getter struct {
	tree  *browse.Tree
	opts  Options
	slots chan struct{} // chunk fetches in flight
	chown bool

	fetched atomic.Int64
	kept    atomic.Int64
	mu      sync.Mutex
	failed  int
	visited browse.Visited // directories planned: a cycle is entered once
}

// Get copies what rel names in tree into localDir (created if missing):
// a file or symlink goes to localDir/<its name>, a directory's contents
// into localDir itself.
func Get(ctx context.Context, tree *browse.Tree, rel string, localDir string, opts Options) (Result, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Files <= 0 {
		opts.Files = 8
	}
	g := &getter{tree: tree, opts: opts, slots: make(chan struct{}, opts.Parallel), chown: os.Geteuid() == 0}
	e, err := tree.Resolve(ctx, rel)
	if err != nil {
		return Result{}, err
	}
	m, err := tree.Stat(ctx, e.ID)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return Result{}, err
	}
	root, err := unix.Open(localDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, &os.PathError{Op: "open", Path: localDir, Err: err}
	}
	defer unix.Close(root)

	var items []*item
	var dirs []*item
	if m.Kind == format.KindDir {
		dirs = append(dirs, &item{e: e, m: m})
		g.visited.Enter(e.ID, "")
		if err := g.plan(ctx, nil, e.ID, &items, &dirs); err != nil {
			return Result{}, err
		}
	} else {
		name := path.Base("/" + rel)
		items = append(items, &item{parts: []string{name}, e: browse.Entry{Name: name, Kind: m.Kind, ID: e.ID}, m: m})
	}
	var res Result
	for _, it := range items {
		if it.m.Kind == format.KindFile {
			res.Files++
			res.Bytes += it.m.Size
		} else {
			res.Symlinks++
		}
	}
	res.Dirs = len(dirs)
	if opts.Progress != nil {
		opts.Progress.Planned(res.Files+res.Symlinks, res.Bytes)
	}

	// Directories first (parents before children), then the files, then
	// the directories' modes and times, deepest first.
	for _, d := range dirs {
		if len(d.parts) == 0 {
			continue // the local dir itself
		}
		if err := g.mkdir(root, d); err != nil {
			g.fail(d.path(), err)
			d.m = nil // do not set its attributes; its contents fail too
		}
	}
	work := make(chan *item)
	var wg sync.WaitGroup
	for range opts.Files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				var err error
				var fetched int64
				if it.m.Kind == format.KindSymlink {
					err = g.symlink(root, it)
				} else {
					fetched, err = g.file(ctx, root, it)
				}
				if err != nil {
					g.fail(it.path(), err)
				}
				if opts.Progress != nil {
					opts.Progress.Done(it.path(), it.m.Size, fetched, err)
				}
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i].parts) > len(dirs[j].parts) })
	for _, d := range dirs {
		if d.m != nil {
			if err := g.setDirAttrs(root, d); err != nil {
				g.fail(d.path(), err)
			}
		}
	}
	res.Fetched = g.fetched.Load()
	res.Kept = g.kept.Load()
	res.Failed = g.failed
	if g.failed > 0 {
		return res, fmt.Errorf("%w: %d of %d", ErrFailed, g.failed, len(items)+len(dirs))
	}
	return res, nil
}

func (g *getter) fail(p string, err error) {
	g.mu.Lock()
	g.failed++
	g.mu.Unlock()
	if g.opts.Logger != nil {
		g.opts.Logger.Printf("%s: %v", displayPath(p), err)
	}
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// plan lists directory id (at parts) recursively, with the manifest of
// every entry; entries that cannot be read are counted as failed and
// left out.
func (g *getter) plan(ctx context.Context, parts []string, id format.ID, items, dirs *[]*item) error {
	ents, err := g.tree.ReadDir(ctx, id)
	if err != nil {
		return err
	}
	mans := make([]*format.Manifest, len(ents))
	errs := make([]error, len(ents))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, e := range ents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mans[i], errs[i] = g.tree.Stat(ctx, e.ID)
		}()
	}
	wg.Wait()
	for i, e := range ents {
		p := append(append([]string(nil), parts...), e.Name)
		switch {
		case errs[i] != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			g.fail(path.Join(p...), errs[i])
		case mans[i].Kind != e.Kind:
			g.fail(path.Join(p...), fmt.Errorf("%w: the dentry says %v, the manifest %v", browse.ErrCorrupt, e.Kind, mans[i].Kind))
		case e.Kind == format.KindDir:
			if err := g.visited.Enter(e.ID, path.Join(p...)); err != nil {
				g.fail(path.Join(p...), err)
				continue
			}
			*dirs = append(*dirs, &item{parts: p, e: e, m: mans[i]})
			if err := g.plan(ctx, p, e.ID, items, dirs); err != nil {
				return err
			}
		default:
			*items = append(*items, &item{parts: p, e: e, m: mans[i]})
		}
	}
	return nil
}
