package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
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
	c       *mountConfig
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
	// stopBackground ends recovery and the watcher and waits for them.
	stopBackground func()

	mu    sync.Mutex
	lost  error                 // the remote lease was taken over: no more uploads
	audit *uploader.AuditReport // the last remote audit

	stopOnce sync.Once
	stop     chan struct{} // closed to ask the main loop to end
}

// daemonMemoryLimit is the soft limit of the daemon's Go heap.
const daemonMemoryLimit = 100 << 20

// what names the daemon's job in messages.
func (d *daemon) what() string {
	if d.c.Watch {
		return "watch of " + d.c.Backing
	}
	return "mount " + d.c.Mountpoint
}

// runDaemon mounts (or watches) and serves until asked to stop (unmount
// command, SIGTERM, or an external umount). ready is told once the mount
// is usable or why it could not be made.
func runDaemon(ctx context.Context, c *mountConfig, ready readyFunc, stderr io.Writer) (err error) {
	defer func() { ready(err) }() // no-op once ready was told
	logw := stderr
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return exitcode.New(exitcode.LocalDir, "log file %s: %v", c.LogFile, err)
		}
		defer f.Close()
		logw = f
	}
	d := &daemon{c: c, log: log.New(logw, fmt.Sprintf("syncfs[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds),
		stop: make(chan struct{}), recovered: make(chan struct{})}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The daemon's buffers are bounded (FUSE requests, objects in
		// flight); the limit makes the collector keep the garbage in
		// line with them on a node whose memory belongs to the job.
		debug.SetMemoryLimit(daemonMemoryLimit)
	}

	j, err := journal.Open(c.State, journal.Options{Holder: fmt.Sprintf("syncfs pid %d (%s)", os.Getpid(), d.what()), Logf: d.log.Printf})
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

	ex, err := exclude.New(c.Excludes)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	d.rec = reconcile.New(backingDir, j, d.up, ex, d.log)
	d.rec.Mounted = !c.Watch
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
	pidfile := filepath.Join(c.State, "pid")
	os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
	defer os.Remove(pidfile)

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

	d.log.Printf("started %s: backing %s, state %s, remote %s", d.what(), c.Backing, c.State, c.Remote)
	ready(nil)
	return d.serve(ctx)
}

// startUploads opens the remote, takes its lease, makes its prefix this
// journal's and starts the uploader. The returned function stops it and
// releases the lease.
func (d *daemon) startUploads(ctx context.Context) (*beneath.Dir, func(), error) {
	c := d.c
	store, err := openRemote(ctx, c.Remote, c.S3Endpoint)
	if err != nil {
		return nil, nil, err
	}
	release, err := d.holdLease(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	if err := uploader.ClaimRemote(ctx, store, d.j.UUID()); err != nil {
		release()
		if errors.Is(err, uploader.ErrForeignRemote) {
			return nil, nil, exitcode.Wrap(exitcode.Busy, err)
		}
		return nil, nil, exitcode.Wrap(remoteCode(err), err)
	}
	d.store = store
	backingDir, err := beneath.Open(c.Backing)
	if err != nil {
		release()
		return nil, nil, exitcode.Wrap(exitcode.LocalDir, err)
	}
	d.up, err = uploader.New(d.j, d.uploadStore(store), backingDir, uploader.Config{
		UploadDelay: c.UploadDelay, MaxAge: c.MaxAge, Level: c.Level, Logger: d.log,
		Failpoint: failpointFromEnv(),
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
		if c.Upload {
			d.up.Run(upCtx)
		}
		close(done)
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

// serve runs until the daemon is asked to stop.
func (d *daemon) serve(ctx context.Context) error {
	c := d.c
	served := make(chan struct{})
	if d.server != nil {
		go func() { d.server.Wait(); close(served) }()
	}
	for {
		select {
		case <-served:
			d.log.Printf("unmounted %s", c.Mountpoint)
			d.j.ReleaseAll()
			d.stopBackground()
			d.recordSeen()
			return nil
		case <-ctx.Done():
			if d.server == nil {
				d.log.Printf("signal: stopping the %s", d.what())
				d.stopBackground()
				d.recordSeen()
				return nil
			}
			d.log.Printf("signal: unmounting %s", c.Mountpoint)
			if err := d.server.Unmount(); err != nil {
				d.log.Printf("cannot unmount %s: %v; still serving it", c.Mountpoint, err)
				ctx = context.Background() // serve on; the next unmount request may succeed
			}
		case <-d.stop:
			if d.server != nil {
				<-served
				d.log.Printf("unmounted %s", c.Mountpoint)
				d.j.ReleaseAll()
			} else {
				d.log.Printf("stopped the %s", d.what())
			}
			d.stopBackground()
			d.recordSeen()
			return nil
		}
	}
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
			seen[f.ID] = journal.Seen{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
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

// allowOther says whether other users may use the mount: root may always
// allow them; other users only where /etc/fuse.conf has user_allow_other.
func allowOther() bool {
	if os.Geteuid() == 0 {
		return true
	}
	f, err := os.Open("/etc/fuse.conf")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "user_allow_other" {
			return true
		}
	}
	return false
}

func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.status()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /flush", func(w http.ResponseWriter, r *http.Request) {
		// Recovery first: what it finds counts as written before now.
		select {
		case <-d.recovered:
		case <-r.Context().Done():
			return
		}
		if d.c.Watch {
			// A watch learns of changes through inotify, after a settle
			// delay: look at the whole tree now instead (unchanged files
			// cost a stat).
			if err := d.rec.Scan(r.Context()); err != nil {
				control.WriteError(w, http.StatusInternalServerError, err)
				return
			}
		} else {
			// Changes made in the backing dir around the mount and
			// already seen by the watcher count too; the mount's own
			// queued namespace ops are committed first, so that the
			// watcher compares with them.
			if err := d.j.Sync(); err != nil {
				control.WriteError(w, http.StatusInternalServerError, err)
				return
			}
			d.watcher.Drain(r.Context())
		}
		// Everything recorded up to now must ship now. Namespace ops
		// queued for the next commit get their generations in it: commit
		// first, then take the barrier.
		if err := d.j.Sync(); err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		barrier := d.j.Gen()
		d.up.Flush(expired(), barrier) // marks it urgent; returns at once
		control.WriteJSON(w, http.StatusOK, FlushProgress{Barrier: barrier})
	})
	mux.HandleFunc("GET /flush", func(w http.ResponseWriter, r *http.Request) {
		barrier, err := strconv.ParseUint(r.URL.Query().Get("barrier"), 10, 64)
		if err != nil {
			control.WriteError(w, http.StatusBadRequest, fmt.Errorf("bad barrier: %v", err))
			return
		}
		wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
		ctx, cancel := context.WithTimeout(r.Context(), min(max(wait, 0), time.Minute))
		defer cancel()
		err = d.up.Flush(ctx, barrier)
		p := d.progress(barrier)
		switch {
		case err == nil:
			p.Settled = true
		case errors.Is(err, uploader.ErrRemoteRejects):
			p.Error = err.Error()
		case d.leaseErr() != nil:
			p.Error = fmt.Sprintf("uploads stopped: %v", d.leaseErr())
		case !d.c.Upload:
			p.Error = "this mount does not upload (--upload=false)"
		}
		control.WriteJSON(w, http.StatusOK, p)
	})
	mux.HandleFunc("POST /audit", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-d.recovered:
		case <-r.Context().Done():
			return
		}
		if d.leaseErr() != nil || !d.c.Upload {
			control.WriteError(w, http.StatusConflict, fmt.Errorf("this mount does not upload: no remote audit"))
			return
		}
		rep, err := d.runAudit(r.Context())
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, rep)
	})
	mux.HandleFunc("POST /unmount", func(w http.ResponseWriter, r *http.Request) {
		if d.server == nil { // a watch: nothing to unmount
			control.WriteJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
			d.stopOnce.Do(func() { close(d.stop) })
			return
		}
		if err := d.server.Unmount(); err != nil {
			control.WriteError(w, http.StatusConflict, fmt.Errorf("cannot unmount %s: %v (a process still uses it; see fuser -vm %s)", d.c.Mountpoint, err, d.c.Mountpoint))
			return
		}
		control.WriteJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
		d.stopOnce.Do(func() { close(d.stop) })
	})
	return mux
}

// runAudit compares the journal with the remote and re-journals what
// the remote lost (uploader.Audit).
func (d *daemon) runAudit(ctx context.Context) (*uploader.AuditReport, error) {
	rep, err := d.up.Audit(ctx, d.j, true)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.audit = rep
	d.mu.Unlock()
	d.log.Print(rep)
	for _, p := range rep.Problems {
		d.log.Printf("remote audit: %s", p)
	}
	return rep, nil
}

func (d *daemon) lastAudit() *uploader.AuditReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.audit
}

// leaseLost is called when another mount took the remote prefix over:
// this mount keeps journaling (nothing is lost locally) but must not
// write to the remote any more.
func (d *daemon) leaseLost(err error) {
	d.mu.Lock()
	d.lost = err
	d.mu.Unlock()
	if d.stopUploads != nil {
		d.stopUploads()
	}
}

func (d *daemon) leaseErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost
}

// expired is a context that is already done: Flush then only marks its
// barrier urgent.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
