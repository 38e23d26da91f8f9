package uploader

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/backoff"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
)

// Journal is what the uploader needs of the journal.
type Journal interface {
	Claims
	Names
}

// Claims is the journal's work for the uploader: what is dirty, claiming
// it, and acknowledging what shipped (journal/claim.go).
type Claims interface {
	Dirty() (map[journal.ID]uint64, error)
	Claim(journal.ID) (journal.Claim, bool, error)
	Ack(journal.Claim) error
	AckShipped(journal.Claim, journal.Shipped) error // Ack, with the hashes and state shipped
	Unclaim(journal.Claim) error
	Settled(barrier uint64) (bool, error)
	Activity(journal.ID) (open bool, last time.Time)
	Recovered() []journal.ID
	SetOnChange(func())
	// Touched is what of a claimed inode was written since its claim or
	// is being written now (journal.Touched).
	Touched(id journal.ID, off, n int64) ranges.Set
}

// Names is the journal's namespace as the uploader reads it: where an
// inode is, what it is, and the op log it replays.
type Names interface {
	Path(journal.ID) (string, error)
	Kind(journal.ID) (journal.Kind, error)
	Target(journal.ID) (string, bool)
	Ops(after uint64, max int) ([]journal.Op, error)
	AckOps(upTo uint64) error
}

var _ Journal = (*journal.Journal)(nil)

// Config tunes an uploader. Zero values mean the defaults.
type Config struct {
	// UploadDelay is how long a file open for write must go unwritten
	// before its changes ship: rewrites within it coalesce. Closed files
	// ship at once. Default 2s.
	UploadDelay time.Duration
	// MaxAge bounds how long any change waits, however busy its file.
	// Default 30s.
	MaxAge time.Duration
	// Workers is how many inodes commit at once. Default 4.
	Workers int
	// Parallel is how many data objects are read, compressed and put at
	// once, over all inodes; it bounds memory (each holds up to 8 MiB).
	// Default 4.
	Parallel int
	// Level is the zstd level name; "" is fastest.
	Level string
	// Logger gets one line per error; nil: the standard logger.
	Logger *log.Logger
	// Failpoint, when set, is called at named points of a commit
	// ("after-put", "after-manifest"); crash tests kill the process there.
	Failpoint func(name string)
	// Format is the prefix's format, from ClaimRemote's marker: 2 ships
	// page-granular extents; 1 (or 0, for tests that make no marker)
	// ships whole 64 KiB blocks, as every syncfs before format 2 did.
	Format int
	// AfterClaim, when set, is called between a claim and the reads it
	// leads to; tests use it to land a write on a range in flight.
	AfterClaim func(id journal.ID)
}

// Uploader ships one journal to one store.
type Uploader struct {
	cfg   Config
	j     Journal
	store remote.Store
	local *beneath.Dir
	comp  *format.Compressor
	// granule is what shipped ranges are widened to: a page in format 2,
	// a block in format 1.
	granule int64
	log     *log.Logger
	cache   *manifestCache

	jobs  chan *bufs // buffers of the data objects in flight (a semaphore)
	locks inodeLocks
	wake  chan struct{}
	idle  chan struct{} // a worker finished: hand it queued work

	// Owned by Run's goroutine: the eligible inodes of the last scan of
	// the journal's dirty records, in shipping order, and when it ran.
	queue         []journal.ID
	scanned       time.Time
	scannedUrgent uint64

	mu        sync.Mutex // guards the fields below
	urgent    uint64     // ship everything with generation <= urgent now
	permErr   error      // a permanent remote error: flush fails with it
	lastErrs  []ErrorInfo
	inodeErrs map[journal.ID]*inodeErr
	busy      map[journal.ID]bool
	firstSeen map[journal.ID]time.Time
	progress  chan struct{} // closed and replaced after every commit
	sweep     map[journal.ID]bool

	stats Stats
}

// Stats counts what the uploader did since it started.
type Stats struct {
	UploadedBytes atomic.Int64 // file bytes shipped (raw bytes of frames and holes)
	SentBytes     atomic.Int64 // bytes put to the store, after compression, manifests included
	ReadBytes     atomic.Int64 // bytes read from the backing files
	Commits       atomic.Int64
	Objects       atomic.Int64
	Deleted       atomic.Int64
	Errors        atomic.Int64
	Retries       atomic.Int64
	// Vanished counts commits that found their file already removed: a
	// short-lived file (a SQLite -journal) unlinked before it shipped.
	// Not an error; nothing is owed to the remote for it.
	Vanished atomic.Int64
	// Shortcuts counts files created and removed within one replay batch:
	// their dentry was never put (nor deleted).
	Shortcuts atomic.Int64
	// Touched counts windows whose pages were written under the commit
	// (journal.Touched): they shipped more pages than the claim named.
	Touched atomic.Int64
}

// ErrorInfo is a recent error, for status.
type ErrorInfo struct {
	Time  time.Time `json:"time"`
	Path  string    `json:"path,omitempty"`
	Error string    `json:"error"`

	id journal.ID // whose error: it leaves the list when id commits (0: the namespace)
}

type inodeErr struct {
	err   error
	tries int
	until time.Time // no retry before
	quiet bool      // a benign race (moved since journaled): not reported
}

// quietMoves is how many times in a row a file may be found moved or
// changed since it was journaled before that is reported as an error: a
// rename or unlink racing the upload settles within a retry or two, a
// backing dir changed behind the mount's back does not.
const quietMoves = 5

// New returns an uploader of the journal j, reading backing files under
// backing, writing to store.
func New(j Journal, store remote.Store, backing *beneath.Dir, cfg Config) (*Uploader, error) {
	if cfg.UploadDelay <= 0 {
		cfg.UploadDelay = 2 * time.Second
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	comp, err := format.NewCompressor(cfg.Level)
	if err != nil {
		return nil, err
	}
	u := &Uploader{
		cfg: cfg, j: j, store: store, local: backing, comp: comp, log: cfg.Logger,
		granule:   format.Root{Format: cfg.Format}.Granule(),
		cache:     newManifestCache(store, 512),
		jobs:      make(chan *bufs, cfg.Parallel),
		wake:      make(chan struct{}, 1),
		idle:      make(chan struct{}, 1),
		inodeErrs: map[journal.ID]*inodeErr{},
		busy:      map[journal.ID]bool{},
		firstSeen: map[journal.ID]time.Time{},
		progress:  make(chan struct{}),
		sweep:     map[journal.ID]bool{},
	}
	if u.log == nil {
		u.log = log.Default()
	}
	for range cfg.Parallel {
		u.jobs <- newBufs()
	}
	for _, id := range j.Recovered() {
		u.sweep[id] = true
	}
	j.SetOnChange(u.Wake)
	return u, nil
}

// Stats returns the counters.
func (u *Uploader) Stats() *Stats { return &u.stats }

// Wake makes the uploader look for work now.
func (u *Uploader) Wake() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Errors returns the recent errors and the permanent one, if any.
func (u *Uploader) Errors() (recent []ErrorInfo, permanent error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]ErrorInfo(nil), u.lastErrs...), u.permErr
}

// InodeState says what the uploader is doing with an inode: "uploading",
// "retrying: <error>", or "".
func (u *Uploader) InodeState(id journal.ID) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.busy[id] {
		return "uploading"
	}
	if e := u.inodeErrs[id]; e != nil && !e.quiet {
		return "retrying: " + e.err.Error()
	}
	return ""
}

func (u *Uploader) noteError(id journal.ID, path string, err error) {
	u.stats.Errors.Add(1)
	u.log.Printf("upload of %s: %v", pathOr(path, id), err)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.forgetErrorsLocked(id) // one entry per inode: the latest
	u.lastErrs = append(u.lastErrs, ErrorInfo{Time: time.Now().UTC(), Path: path, Error: err.Error(), id: id})
	if len(u.lastErrs) > 20 {
		u.lastErrs = u.lastErrs[len(u.lastErrs)-20:]
	}
	if remote.IsPermanent(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, remote.ErrNotFound) {
		u.permErr = err
	}
	if id == 0 {
		return
	}
	e := u.inodeErrs[id]
	if e == nil {
		e = &inodeErr{}
		u.inodeErrs[id] = e
	}
	e.err, e.tries, e.quiet = err, e.tries+1, false
	e.until = time.Now().Add(retryIn(e.tries))
	close(u.progress) // a flush waiting may have to report it
	u.progress = make(chan struct{})
}

// noteMoved is noteError for localfile.ErrMoved: the backing file is not (yet)
// where the journal says, because a rename or unlink is on its way into
// the journal. That is a race, not an error, until it persists.
func (u *Uploader) noteMoved(id journal.ID, path string, err error) {
	u.mu.Lock()
	e := u.inodeErrs[id]
	if e == nil || e.quiet {
		if e == nil {
			e = &inodeErr{quiet: true}
			u.inodeErrs[id] = e
		}
		e.err, e.tries = err, e.tries+1
		if e.tries <= quietMoves {
			e.until = time.Now().Add(time.Duration(e.tries) * 100 * time.Millisecond)
			u.mu.Unlock()
			return
		}
		e.quiet = false
	}
	u.mu.Unlock()
	u.noteError(id, path, err)
}

// forgetErrorsLocked drops the recent errors of id: they are resolved.
// Caller holds u.mu.
func (u *Uploader) forgetErrorsLocked(id journal.ID) {
	kept := u.lastErrs[:0]
	for _, e := range u.lastErrs {
		if e.id != id {
			kept = append(kept, e)
		}
	}
	clear(u.lastErrs[len(kept):])
	u.lastErrs = kept
}

func (u *Uploader) noteSuccess(id journal.ID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.inodeErrs, id)
	u.forgetErrorsLocked(id)
	if len(u.inodeErrs) == 0 {
		u.permErr = nil
	}
	close(u.progress)
	u.progress = make(chan struct{})
}

// Barrier returns the urgent barrier: flushes asked for everything up to it.
func (u *Uploader) Barrier() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.urgent
}

// retryIn is how long a failing file waits: 1s, doubling to 60s.
func retryIn(tries int) time.Duration { return backoff.Exp(tries, time.Second, time.Minute) }

func pathOr(path string, id journal.ID) string {
	if path != "" {
		return path
	}
	return fmt.Sprintf("inode %v", id)
}

// inodeLocks serializes everything done to one inode's remote objects:
// commits and the deletion of a dead inode.
type inodeLocks struct {
	mu sync.Mutex
	m  map[journal.ID]*inodeLock
}

type inodeLock struct {
	mu   sync.Mutex
	refs int
}

func (l *inodeLocks) lock(id journal.ID) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[journal.ID]*inodeLock{}
	}
	x := l.m[id]
	if x == nil {
		x = &inodeLock{}
		l.m[id] = x
	}
	x.refs++
	l.mu.Unlock()
	x.mu.Lock()
	return func() {
		x.mu.Unlock()
		l.mu.Lock()
		if x.refs--; x.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
