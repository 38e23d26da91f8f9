package rofs

import (
	"log"
	"sync"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
)

// Options tunes the file system; the zero value works.
type Options struct {
	// Refresh bounds how stale what the mount shows may be: the kernel
	// keeps entries and attributes this long, and open files are polled
	// for new versions this often. Default 5s.
	Refresh time.Duration
	// Logger receives errors worth a person's attention; nil discards.
	Logger *log.Logger
	// Root is the directory shown at the mountpoint; 0 for the tree's
	// root (a URL inside the tree mounts a subtree).
	Root format.ID
	// NoPassthrough keeps every read in the daemon, even of files whose
	// whole version is in the disk cache (see passthrough.go).
	NoPassthrough bool
	// PassthroughQuiet: only files whose mtime is at least this old are
	// handed to the kernel (default 1 minute): a file a job is still
	// writing stays live.
	PassthroughQuiet time.Duration
}

// DefaultRefresh is Options.Refresh's default.
const DefaultRefresh = 5 * time.Second

// FS is a mounted tree.
type FS struct {
	tree *browse.Tree
	opts Options
	root *node

	mu   sync.Mutex
	open map[*node]int // open file handles per node, for the poller

	passthrough atomic.Bool // the kernel takes backing files, and we may give them

	reads, readBytes, errors, refreshes, invalidations, ptOpens atomic.Int64
}

// New returns the file system of tree.
func New(tree *browse.Tree, opts Options) *FS {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.PassthroughQuiet <= 0 {
		opts.PassthroughQuiet = time.Minute
	}
	fs := &FS{tree: tree, opts: opts, open: map[*node]int{}}
	if opts.Root == 0 {
		opts.Root = format.RootID
		fs.opts.Root = opts.Root
	}
	fs.root = &node{fs: fs, id: opts.Root, kind: format.KindDir}
	return fs
}

// Root returns the root node, for gofs.NewNodeFS.
func (fs *FS) Root() gofs.InodeEmbedder { return fs.root }

// Tree returns the tree the file system shows.
func (fs *FS) Tree() *browse.Tree { return fs.tree }

func (fs *FS) logf(format string, args ...any) {
	if fs.opts.Logger != nil {
		fs.opts.Logger.Printf(format, args...)
	}
}

// minAge is how old a manifest may be when an open or a getattr asks for
// it: bursts of calls (ls -l, a viewer opening a file several times)
// share one GET, and an open never serves a version older than this.
func (fs *FS) minAge() time.Duration { return min(time.Second, fs.opts.Refresh) }

// Stats counts what the mount did.
type Stats struct {
	Reads         int64 `json:"reads"`
	ReadBytes     int64 `json:"read_bytes"`
	Errors        int64 `json:"errors"`
	Refreshes     int64 `json:"refreshes"`     // manifests re-read for open files
	Invalidations int64 `json:"invalidations"` // new versions seen: cached pages dropped
	OpenFiles     int   `json:"open_files"`
	Passthrough   int64 `json:"passthrough_opens"` // opens served by the kernel from a cached image
}

// Stats returns the counters.
func (fs *FS) Stats() Stats {
	fs.mu.Lock()
	open := len(fs.open)
	fs.mu.Unlock()
	return Stats{Reads: fs.reads.Load(), ReadBytes: fs.readBytes.Load(), Errors: fs.errors.Load(),
		Refreshes: fs.refreshes.Load(), Invalidations: fs.invalidations.Load(), OpenFiles: open, Passthrough: fs.ptOpens.Load()}
}
