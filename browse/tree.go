package browse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/lru"
	"github.com/syncfs/syncfs/remote"
)

// Options tunes a Tree. The zero value works.
type Options struct {
	// Cache is the on-disk frame cache; nil for none.
	Cache *cache.Cache
	// MemCache bounds the decoded frames kept in memory; default 128 MiB.
	MemCache int64
	// Concurrency bounds the GETs in flight for the whole Tree; default 8.
	Concurrency int
	// DentryTTL is how long a dentry read by ReadDir may answer Lookup
	// without a GET (the mount sets it to its refresh period); default 0.
	DentryTTL time.Duration
	// Logger receives one line per hostile or broken object met; nil
	// discards them.
	Logger *log.Logger
	// Quiet leaves out of the log the objects that break a read (the
	// read's error says it, and a command prints that); entries left out
	// of listings are still logged.
	Quiet bool
	// Wrap, if set, wraps the store OpenURL found the tree in (with
	// retries, say) once the root marker is read: probing for the root
	// is never retried, so a wrong URL fails at once.
	Wrap func(remote.Store) remote.Store
}

// MaxManifest is the largest inode manifest read, format.MaxManifest (the
// uploader writes none larger). A larger one is refused rather than
// allocated.
const MaxManifest = format.MaxManifest

// maxSegment is the largest segment manifest the format allows, rounded
// up: 1024 block hashes and, in format 2, up to one extent per 4 KiB page.
const maxSegment = format.MaxSegmentManifest

// maxRootMarker bounds syncfs.json.
const maxRootMarker = 64 << 10

// Tree is a remote syncfs tree. It is safe for concurrent use.
type Tree struct {
	store remote.Store
	root  format.Root
	opts  Options
	ns    string // cache namespace: this store and journal
	warn  *warner

	getSem      chan struct{}                       // GET slots (Concurrency)
	prefetchSem chan struct{}                       // prefetches running
	mem         *lru.Cache[frameKey, []byte]        // decoded frames, by bytes; never modified once stored, so shared without copying
	segs        *lru.Cache[segKey, *format.Segment] // decoded segment manifests (each ≤ 60 KiB), by count; never modified
	dents       *dentCache

	mu       sync.Mutex
	inflight map[frameKey]*flight // frames being fetched
}

// Open reads the root marker of the tree at the store's root.
func Open(ctx context.Context, store remote.Store, opts Options) (*Tree, error) {
	b, err := remote.ReadAll(ctx, store, format.RootKey, maxRootMarker)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, fmt.Errorf("%w at %s (no %s)", ErrNoTree, store, format.RootKey)
	}
	if err != nil {
		return nil, err
	}
	root, err := format.DecodeRoot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store, err)
	}
	return newTree(store, root, opts), nil
}

func newTree(store remote.Store, root format.Root, opts Options) *Tree {
	if opts.MemCache <= 0 {
		opts.MemCache = 128 << 20
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	// The namespace covers the store too: another remote claiming the
	// same journal UUID must not read (or poison) this one's entries.
	sum := sha256.Sum256([]byte(store.String() + "\n" + root.Journal))
	return &Tree{
		store:       store,
		root:        root,
		opts:        opts,
		ns:          hex.EncodeToString(sum[:8]),
		warn:        newWarner(opts.Logger, opts.Quiet),
		getSem:      make(chan struct{}, opts.Concurrency),
		prefetchSem: make(chan struct{}, prefetchers),
		mem:         lru.New[frameKey, []byte](opts.MemCache, func(b []byte) int64 { return int64(len(b)) }),
		segs:        lru.New[segKey, *format.Segment](256, nil),
		dents:       newDentCache(100000),
		inflight:    map[frameKey]*flight{},
	}
}

// Store returns the store the tree is read from.
func (t *Tree) Store() remote.Store { return t.store }

// Root returns the tree's root marker.
func (t *Tree) Root() format.Root { return t.root }

// String names the tree for messages.
func (t *Tree) String() string { return t.store.String() }

// acquire takes a GET slot.
func (t *Tree) acquire(ctx context.Context) error {
	select {
	case t.getSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tree) release() { <-t.getSem }

// Cache returns the disk cache the tree uses, nil if none.
func (t *Tree) Cache() *cache.Cache { return t.opts.Cache }

// ImageKey names, in the disk cache, the image of version ver of file id.
func (t *Tree) ImageKey(id format.ID, ver uint64) cache.ImageKey {
	return cache.ImageKey{NS: t.ns, ID: uint64(id), Version: ver}
}
