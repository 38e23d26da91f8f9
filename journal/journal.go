package journal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/syncfs/syncfs/internal/ranges"
	bolt "go.etcd.io/bbolt"
)

// Lock order: Journal.mu is never held while waiting for a bbolt
// transaction. Transactions run in the committer goroutine (writes) or in
// any goroutine (reads); the committer takes mu briefly inside a
// transaction, never the other way round.

// Options tune a journal.
type Options struct {
	// Holder describes this process in the lock file (e.g. "syncfs pid 12
	// mount /scratch/job"), so a second opener can name it.
	Holder string
	// CommitInterval bounds how long a recorded write waits in memory before
	// a background commit; fsync, close and every metadata op commit at
	// once. Zero means 100ms.
	CommitInterval time.Duration
	// NoSync skips fdatasync on commit. Only for tests that measure
	// something else.
	NoSync bool
	// Logf, if set, gets one line per namespace op that could not be
	// recorded (see async.go).
	Logf func(format string, args ...any)
}

// ErrCorrupt is wrapped by the error Open returns for a damaged journal.
var ErrCorrupt = errors.New("journal is corrupt")

// CorruptError is a damaged journal file. Its message says what to do;
// Detail is what bbolt or the checker said (a panic's first line, a page
// number), for the log rather than for the user.
type CorruptError struct {
	Path   string
	Detail string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the journal %s is damaged and cannot be read; move it aside (mv %s %s.damaged) and mount again with a new remote prefix, which gets the whole backing dir (the old prefix belongs to the lost journal and keeps what it shipped)", e.Path, e.Path, e.Path)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Journal is an open journal. All methods are safe for concurrent use.
type Journal struct {
	dir       string
	uuid      string // identifies this journal to the remote it ships to
	recovered []ID   // in flight when the last process stopped
	db        *bolt.DB
	lock      *lockFile

	interval time.Duration
	wake     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}

	mu        sync.Mutex
	gen       uint64                // last generation handed out
	pend      map[ID]*pendingWrites // writes not yet committed
	reqs      []*request            // transactions waiting for the next commit
	openCount map[ID]int            // open-for-write handles per inode
	lastWrite map[ID]time.Time      // last recorded change per inode, for the upload settle policy
	unmark    map[ID]bool           // marks to clear in the next commit
	writing   map[ID]writing        // writes under way: begun, not yet recorded
	since     map[ID]ranges.Set     // of claimed inodes: what changed since the claim
	commitErr error                 // last commit failure, nil once one succeeds
	nextToken uint64                // last claim token handed out
	commits   uint64                // successful commits, for tests and stats
	closed    bool
	onChange  func() // called after each commit that changed pending work

	nextID ID                  // next inode ID to hand out
	ovl    map[string]ovlEntry // names changed by queued namespace ops (async.go)
	ovlSeq uint64              // last seq of a queued namespace op
	logf   func(string, ...any)
}

type pendingWrites struct {
	gen    uint64 // generation of the first uncommitted write
	ranges ranges.Set
	attr   bool // attributes (mode, owner, times, xattrs) changed
}

type request struct {
	fn   func(tx *bolt.Tx) error
	err  error
	done chan struct{}
	// async: nobody waits (a namespace op of the mount, see async.go);
	// seq orders it among the overlay's entries, what names it in a log
	// line if it fails.
	async bool
	seq   uint64
	what  string
}

// Open opens or creates the journal in the state directory dir. It fails
// with an error wrapping ErrLocked when another process has it open, and
// with one wrapping ErrCorrupt when the file is damaged.
func Open(dir string, opts Options) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if opts.Holder == "" {
		opts.Holder = fmt.Sprintf("pid %d", os.Getpid())
	}
	lock, err := acquireLock(dir, opts.Holder)
	if err != nil {
		return nil, err
	}
	j, err := open(dir, lock, opts)
	if err != nil {
		lock.release()
		return nil, err
	}
	return j, nil
}

func open(dir string, lock *lockFile, opts Options) (*Journal, error) {
	path := filepath.Join(dir, "journal.db")
	if err := verifyFile(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
	})
	if err != nil {
		return nil, &CorruptError{Path: path, Detail: err.Error()}
	}
	j := &Journal{
		dir:       dir,
		db:        db,
		lock:      lock,
		interval:  opts.CommitInterval,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
		pend:      map[ID]*pendingWrites{},
		openCount: map[ID]int{},
		lastWrite: map[ID]time.Time{},
		unmark:    map[ID]bool{},
		writing:   map[ID]writing{},
		since:     map[ID]ranges.Set{},
		ovl:       map[string]ovlEntry{},
		logf:      opts.Logf,
	}
	if j.logf == nil {
		j.logf = func(string, ...any) {}
	}
	if j.interval <= 0 {
		j.interval = 100 * time.Millisecond
	}
	if err := j.init(); err != nil {
		db.Close()
		return nil, &CorruptError{Path: path, Detail: err.Error()}
	}
	go j.committer()
	return j, nil
}

// init creates the buckets and the root on first use, checks the file's
// consistency, and returns claims left in flight by a crashed process to
// the dirty set, since nothing acknowledged them.
func (j *Journal) init() error {
	return j.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v == nil {
			var id [16]byte
			if _, err := rand.Read(id[:]); err != nil {
				return err
			}
			meta.Put(keyUUID, []byte(hex.EncodeToString(id[:])))
			meta.Put(keyVersion, u64(formatVersion))
			meta.Put(keyNextID, u64(uint64(RootID)+1))
			tx.Bucket(bucketInodes).Put(idKey(RootID), inode{Kind: KindDir, Nlink: 1}.encode())
		} else if len(v) != 8 || keyID(v) != formatVersion {
			return fmt.Errorf("unsupported journal format %x (this syncfs reads version %d)", v, formatVersion)
		}
		j.uuid = string(meta.Get(keyUUID))
		j.nextID = keyID(meta.Get(keyNextID))
		if j.nextID <= RootID {
			return fmt.Errorf("%w: next_id", errCorruptRecord)
		}
		if v := meta.Get(keyGen); len(v) == 8 {
			j.gen = uint64(keyID(v))
		}
		// Every op's seq is a generation too.
		if k, _ := tx.Bucket(bucketOps).Cursor().Last(); k != nil && uint64(keyID(k)) > j.gen {
			j.gen = uint64(keyID(k))
		}
		var err error
		j.recovered, err = requeueInFlight(tx)
		return err
	})
}

// Recovered returns the inodes whose uploads were in flight when the
// previous process stopped: their remote may hold objects that no
// manifest refers to.
func (j *Journal) Recovered() []ID { return j.recovered }

func requeueInFlight(tx *bolt.Tx) ([]ID, error) {
	inflight, dirty := tx.Bucket(bucketInFlight), tx.Bucket(bucketDirty)
	var keys [][]byte
	var ids []ID
	err := inflight.ForEach(func(k, v []byte) error {
		p, err := decodePending(v)
		if err != nil {
			return fmt.Errorf("in-flight record %x: %w", k, err)
		}
		if err := mergeDirty(dirty, keyID(k), p); err != nil {
			return err
		}
		keys = append(keys, append([]byte(nil), k...))
		ids = append(ids, keyID(k))
		return nil
	})
	for _, k := range keys {
		inflight.Delete(k)
	}
	return ids, err
}

// mergeDirty adds p's ranges and flags to the dirty record of id.
func mergeDirty(dirty *bolt.Bucket, id ID, p pending) error {
	cur := pending{Gen: p.Gen}
	if v := dirty.Get(idKey(id)); v != nil {
		var err error
		if cur, err = decodePending(v); err != nil {
			return fmt.Errorf("dirty record of %v: %w", id, err)
		}
		cur.Gen = min(cur.Gen, p.Gen)
	}
	cur.AttrDirty = cur.AttrDirty || p.AttrDirty
	cur.Ranges = cur.Ranges.Union(p.Ranges)
	if p.Shrunk && (!cur.Shrunk || p.MinSize < cur.MinSize) {
		cur.Shrunk, cur.MinSize = true, p.MinSize
	}
	cur.Token = 0
	return dirty.Put(idKey(id), cur.encode())
}

// Close commits what is pending and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.mu.Unlock()
	err := j.Sync()
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.stopped
	if cerr := j.db.Close(); err == nil {
		err = cerr
	}
	if lerr := j.lock.release(); err == nil {
		err = lerr
	}
	return err
}

// Dir returns the state directory.
func (j *Journal) Dir() string { return j.dir }

// Err returns the last commit failure (disk full, I/O error) or nil. While
// it is set, writes must not be accepted: their ranges could not be
// recorded.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commitErr
}

// SetOnChange registers fn to be called (from the committer goroutine) after
// every commit. The uploader uses it to wake up.
func (j *Journal) SetOnChange(fn func()) {
	j.mu.Lock()
	j.onChange = fn
	j.mu.Unlock()
}

var errClosed = errors.New("journal is closed")

// update runs fn in the next group commit and waits for it to be durable.
func (j *Journal) update(fn func(tx *bolt.Tx) error) error {
	return j.updateWith(nil, fn)
}

// updateWith is update that first runs pre with j.mu held, atomically with
// queueing fn: a change to the in-memory writes that must happen exactly
// at the point fn takes effect.
func (j *Journal) updateWith(pre func(), fn func(tx *bolt.Tx) error) error {
	r := &request{fn: fn, done: make(chan struct{})}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return errClosed
	}
	if pre != nil {
		pre()
	}
	j.reqs = append(j.reqs, r)
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-r.done
	return r.err
}

// Sync waits until every write recorded before the call is durable.
func (j *Journal) Sync() error {
	return j.update(nil)
}

// SyncFile is Sync for one inode: it returns at once when nothing of id is
// waiting in memory, so that closing a file that was only read costs no
// commit.
func (j *Journal) SyncFile(id ID) error {
	j.mu.Lock()
	_, waiting := j.pend[id]
	err := j.commitErr
	j.mu.Unlock()
	if !waiting {
		return err
	}
	return j.Sync()
}

func (j *Journal) committer() {
	defer close(j.stopped)
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			j.commit()
			return
		case <-j.wake:
		case <-t.C:
		}
		j.commit()
	}
}

// commit writes everything pending in one bbolt transaction: the queued
// requests, then the recorded writes, then the open-for-write marks to
// clear.
func (j *Journal) commit() {
	j.mu.Lock()
	pend, reqs, unmark := j.pend, j.reqs, j.unmark
	if len(pend) == 0 && len(reqs) == 0 && len(unmark) == 0 {
		j.mu.Unlock()
		return
	}
	j.pend, j.reqs, j.unmark = map[ID]*pendingWrites{}, nil, map[ID]bool{}
	gen := j.gen
	j.mu.Unlock()

	err := j.db.Update(func(tx *bolt.Tx) error {
		// Requests first: every write in pend is newer than every request
		// of this batch or was already applied to pend when the request
		// was queued (see Truncate), so a truncate or a claim never cuts
		// or takes a write that came after it.
		for _, r := range reqs {
			if r.fn != nil {
				r.err = r.fn(tx)
			}
		}
		inodes, dirty := tx.Bucket(bucketInodes), tx.Bucket(bucketDirty)
		for id, p := range pend {
			if (len(p.ranges) == 0 && !p.attr) || inodes.Get(idKey(id)) == nil {
				continue // truncated away, or unlinked: nothing to ship
			}
			if err := mergeDirty(dirty, id, pending{Gen: p.gen, Ranges: p.ranges, AttrDirty: p.attr}); err != nil {
				return err
			}
		}
		open := tx.Bucket(bucketOpen)
		j.mu.Lock()
		for id := range unmark {
			if j.openCount[id] == 0 {
				open.Delete(idKey(id))
			}
		}
		if j.gen > gen {
			gen = j.gen
		}
		j.mu.Unlock()
		return tx.Bucket(bucketMeta).Put(keyGen, u64(gen))
	})

	j.mu.Lock()
	j.settleAsyncLocked(reqs, err)
	if err != nil {
		// Keep everything for the next attempt: a full or failing state
		// disk must not lose ranges.
		for id, p := range pend {
			q := j.pend[id]
			if q == nil {
				j.pend[id] = p
				continue
			}
			q.gen = min(q.gen, p.gen)
			q.ranges = p.ranges.Union(q.ranges)
			q.attr = q.attr || p.attr
		}
		for id := range unmark {
			j.unmark[id] = true
		}
		j.commitErr = fmt.Errorf("journal %s: commit failed: %w", j.dir, err)
	} else {
		j.commitErr = nil
		j.commits++
		if j.commits%1024 == 0 {
			j.pruneActivityLocked()
		}
	}
	onChange := j.onChange
	j.mu.Unlock()

	for _, r := range reqs {
		if r.async {
			continue // settled above: requeued, or done
		}
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
	if onChange != nil && err == nil {
		onChange()
	}
}

// nextGen hands out the next generation. Caller holds j.mu.
func (j *Journal) nextGenLocked() uint64 {
	j.gen++
	return j.gen
}

// Gen returns the current generation: every change recorded so far has a
// generation <= Gen. A flush barrier.
func (j *Journal) Gen() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.gen
}

// Commits returns how many group commits succeeded so far.
func (j *Journal) Commits() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commits
}

// UUID identifies the journal: the remote records which journal ships to
// it, since inode IDs from two journals would collide.
func (j *Journal) UUID() string { return j.uuid }
