package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/fs"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/reconcile"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/uploader"
	"golang.org/x/sys/unix"
)

// daemon is a running writable mount, or a watcher of a plain directory
// (syncfs watch, for nodes without FUSE): the same journal, uploader and
// control socket, with the FUSE layer or without it.
type daemon struct {
	c       *Config
	log     *log.Logger
	j       *journal.Journal
	fs      *fs.FS // nil when watching
	server  *fuse.Server
	store   remote.Store
	up      *uploader.Uploader
	rec     *reconcile.Reconciler
	watcher *reconcile.Watcher

	stopUploads context.CancelFunc
	retries     atomic.Int64
	trouble     troubleTracker // the remote failure being retried, if any
	recovered   chan struct{}  // closed once the start-up recovery and scan are done
	started     chan struct{}  // closed once the mount (or watch) is ready: uploads start then
	// stopBackground ends recovery and the watcher and waits for them.
	stopBackground func()

	mu    sync.Mutex
	lost  error                 // the remote lease was taken over: no more uploads
	audit *uploader.AuditReport // the last remote audit

	stop *stopper // asks the main loop to end
}

// daemonMemoryLimit is the soft limit of the daemon's Go heap.
const daemonMemoryLimit = 100 << 20

// Run mounts (or watches) and serves until asked to stop (the unmount
// request, a signal that ends ctx, or an external umount). ready is told
// once the mount is usable or why it could not be made; the log goes to
// c.LogFile, or to stderr if it names none.
func Run(ctx context.Context, c Config, ready Ready, stderr io.Writer) (err error) {
	defer func() { ready(err) }() // no-op once ready was told
	logger, closeLog, err := openLog(c.LogFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	d := &daemon{c: &c, log: logger, stop: newStopper(), recovered: make(chan struct{}), started: make(chan struct{})}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The daemon's buffers are bounded (FUSE requests, objects in
		// flight); the limit makes the collector keep the garbage in
		// line with them on a node whose memory belongs to the job.
		debug.SetMemoryLimit(daemonMemoryLimit)
	}

	j, err := journal.Open(c.State, journal.Options{Holder: fmt.Sprintf("syncfs pid %d (%s)", os.Getpid(), c.what()), Logf: d.log.Printf})
	if err := journalErr(err, d.log); err != nil {
		return err
	}
	d.j = j
	defer func() {
		if cerr := j.Close(); cerr != nil {
			d.log.Printf("closing journal: %v", cerr)
		}
	}()
	// Every mark now is a file a dead process had open for write: its
	// last writes may never have reached the journal.
	marks, err := j.OpenMarks()
	if err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}

	backingDir, stopUploads, err := d.startUploads(ctx)
	if err != nil {
		return err
	}
	defer backingDir.Close()
	defer stopUploads()
	if err := d.newReconciler(backingDir, !c.Watch); err != nil {
		return err
	}
	d.watcher = reconcile.NewWatcher(d.rec, c.Backing, reconcile.WatchOptions{MaxAge: c.MaxAge})

	ln, err := control.Listen(c.State)
	if err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	defer os.Remove(filepath.Join(c.State, control.SocketName))
	if !c.Watch {
		if err := d.mount(); err != nil {
			ln.Close()
			return err
		}
		defer d.fs.Close()
	}
	defer writePID(c.State)()
	defer control.Serve(ln, d.handler())()
	if c.MetricsAddr != "" {
		stop, err := d.serveMetrics(c.MetricsAddr)
		if err != nil {
			if d.server != nil {
				d.server.Unmount()
			}
			return exitcode.Wrap(exitcode.Usage, err)
		}
		defer stop()
	}

	// Recovery and the out-of-band scan run behind a mount that is usable
	// at once; flush waits for them.
	bg, stopBG := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		d.recover(bg, marks)
		d.watcher.Run(bg)
	}()
	d.stopBackground = sync.OnceFunc(func() { stopBG(); <-watchDone })
	defer d.stopBackground()

	d.log.Printf("started %s: backing %s, state %s, remote %s", c.what(), c.Backing, c.State, c.Remote)
	close(d.started)
	ready(nil)
	d.serve(ctx)
	return nil
}

// newReconciler makes the reconciler of the backing dir: what the start-up
// scan, the watcher and recovery use. mounted says a mount serves the
// backing dir (reconcile.Reconciler.Mounted).
func (d *daemon) newReconciler(backingDir *beneath.Dir, mounted bool) error {
	ex, err := exclude.New(d.c.Excludes)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	d.rec = reconcile.New(backingDir, d.j, d.up, ex, d.log)
	d.rec.Mounted = mounted
	return nil
}

// startUploads opens the remote, takes its lease, makes its prefix this
// journal's and starts the uploader. The returned function stops it and
// releases the lease.
func (d *daemon) startUploads(ctx context.Context) (*beneath.Dir, func(), error) {
	c := d.c
	store, err := c.OpenStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	release, err := d.holdLease(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	root, err := uploader.ClaimRemote(ctx, store, d.j.UUID())
	if err != nil {
		release()
		if errors.Is(err, uploader.ErrForeignRemote) {
			return nil, nil, exitcode.Wrap(exitcode.Busy, err)
		}
		return nil, nil, exitcode.Wrap(RemoteCode(err), err)
	}
	d.store = store
	backingDir, err := beneath.Open(c.Backing)
	if err != nil {
		release()
		return nil, nil, exitcode.Wrap(exitcode.LocalDir, err)
	}
	d.up, err = uploader.New(d.j, d.uploadStore(store), backingDir, uploader.Config{
		UploadDelay: c.UploadDelay, MaxAge: c.MaxAge, Level: c.Level, Logger: d.log,
		Failpoint: c.Failpoint, Format: root.Format,
	})
	if err != nil {
		backingDir.Close()
		release()
		return nil, nil, exitcode.Wrap(exitcode.Usage, err)
	}
	upCtx, cancel := context.WithCancel(context.Background())
	d.stopUploads = cancel
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Uploads start once the mount is ready: a commit that fails or
		// dies (a crash test's failpoint) must not make the mount fail
		// to start, and the mount's readiness must not wait for them.
		select {
		case <-d.started:
		case <-upCtx.Done():
			return
		}
		if c.Upload {
			d.up.Run(upCtx)
		}
	}()
	published := make(chan struct{})
	go func() {
		if c.Upload && c.PublishEvery > 0 {
			d.publishLoop(upCtx, store, c.PublishEvery)
		}
		close(published)
	}()
	return backingDir, func() { cancel(); <-done; <-published; release() }, nil
}

// mount makes the FUSE mount.
func (d *daemon) mount() error {
	c := d.c
	var err error
	d.fs, err = fs.New(fs.Options{Backing: c.Backing, Journal: d.j, Exclude: c.Excludes, Passthrough: c.Passthrough, Logger: d.log,
		OnNamespace: d.watcher.MountChanged})
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	d.server, err = fs.Mount(c.Mountpoint, d.fs, fs.MountOptions{
		FsName:       mountinfo.SourcePrefix + c.State,
		AllowOther:   allowOther(),
		NoWriteback:  !c.Writeback,
		DirectWrites: c.Direct,
		Debug:        c.Debug,
	})
	if err != nil {
		d.fs.Close()
		return exitcode.Wrap(exitcode.Mountpoint, err)
	}
	return nil
}

// recover compares what a dead process left open for write, then scans
// the backing tree for what changed around the journal.
func (d *daemon) recover(ctx context.Context, marks []journal.ID) {
	defer close(d.recovered)
	start := time.Now()
	if len(marks) > 0 {
		d.log.Printf("recovery: comparing %d files a previous daemon had open for write", len(marks))
	}
	if err := d.rec.Recover(ctx, marks); err != nil {
		d.log.Printf("recovery: %v", err)
	}
	if err := d.rec.Scan(ctx); err != nil {
		d.log.Printf("scan of the backing dir: %v", err)
	}
	// The remote may have changed while nothing watched it (objects
	// deleted, an old copy restored): what it lost ships again.
	if d.c.Upload {
		// A new prefix has no root manifest yet: that is not a loss.
		if err := d.up.EnsureRoot(ctx); err != nil && ctx.Err() == nil {
			d.log.Printf("writing the root directory's manifest: %v", err)
		}
		if _, err := d.runAudit(ctx); err != nil && ctx.Err() == nil {
			d.log.Printf("%v", err)
		}
	}
	if n := d.rec.Adopted.Load() + d.rec.Removed.Load() + d.rec.Changed.Load(); n > 0 || len(marks) > 0 {
		d.log.Printf("recovery and scan done in %v: %d adopted, %d removed, %d of %d compared files changed",
			time.Since(start).Round(time.Millisecond), d.rec.Adopted.Load(), d.rec.Removed.Load(), d.rec.Changed.Load(), d.rec.Compared.Load())
	}
}

// serve runs until the daemon is asked to stop, then ends the work in
// the background and records what it saw.
func (d *daemon) serve(ctx context.Context) {
	if d.server != nil {
		serveMount(ctx, d.server, d.stop, d.c.Mountpoint, d.log)
		d.j.ReleaseAll()
	} else {
		select {
		case <-ctx.Done():
			d.log.Printf("signal: stopping the %s", d.c.what())
		case <-d.stop.ch:
			d.log.Printf("stopped the %s", d.c.what())
		}
	}
	d.stopBackground()
	d.recordSeen()
}

// recordSeen notes, at a clean stop (after the background reconciling,
// which records states too, has stopped), the state of every file with work
// pending: the journal is complete for them, so the next start need not
// compare them.
func (d *daemon) recordSeen() {
	// Commit the queued namespace ops first: a file created and closed
	// just before the unmount has no path in the journal until its create
	// commits, and a file left without a state is compared at the next
	// start.
	if err := d.j.Sync(); err != nil {
		d.log.Printf("recording file states: %v", err)
		return
	}
	files, err := d.j.State()
	if err != nil {
		return
	}
	seen := map[journal.ID]journal.Seen{}
	for _, f := range files {
		if f.Path == "" {
			continue
		}
		var st unix.Stat_t
		dir, name := beneath.Split(f.Path)
		if d.rec.StatAt(dir, name, &st) == nil {
			seen[f.ID] = journal.SeenOf(&st)
		}
	}
	if err := d.j.SetSeen(seen); err != nil {
		d.log.Printf("recording file states: %v", err)
	}
}

// journalErr gives a journal.Open failure its exit code; a damaged
// journal's detail (bbolt's words) goes to the log only.
func journalErr(err error, logger *log.Logger) error {
	var ce *journal.CorruptError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, journal.ErrLocked):
		return exitcode.Wrap(exitcode.Busy, err)
	case errors.As(err, &ce):
		if logger != nil {
			logger.Printf("journal %s is damaged: %s", ce.Path, ce.Detail)
		}
		return exitcode.Wrap(exitcode.Journal, err)
	}
	return exitcode.Wrap(exitcode.LocalDir, err)
}
