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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/fs"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/uploader"
)

// daemon is a running writable mount.
type daemon struct {
	c      *mountConfig
	log    *log.Logger
	j      *journal.Journal
	fs     *fs.FS
	server *fuse.Server
	store  remote.Store
	up     *uploader.Uploader

	stopUploads context.CancelFunc
	retries     atomic.Int64

	mu   sync.Mutex
	lost error // the remote lease was taken over: no more uploads

	stopOnce sync.Once
	stop     chan struct{} // closed to ask the main loop to end
}

// runDaemon mounts and serves until the mount goes away (unmount command,
// SIGTERM, or an external umount). ready is told once the mount is usable
// or why it could not be made.
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
	d := &daemon{c: c, log: log.New(logw, fmt.Sprintf("syncfs[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds), stop: make(chan struct{})}

	j, err := journal.Open(c.State, journal.Options{Holder: fmt.Sprintf("syncfs pid %d (mount %s)", os.Getpid(), c.Mountpoint)})
	switch {
	case errors.Is(err, journal.ErrLocked):
		return exitcode.Wrap(exitcode.Busy, err)
	case err != nil:
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	d.j = j
	defer func() {
		if cerr := j.Close(); cerr != nil {
			d.log.Printf("closing journal: %v", cerr)
		}
	}()

	store, err := openRemote(ctx, c.Remote, c.S3Endpoint)
	if err != nil {
		return err
	}
	release, err := d.holdLease(ctx, store)
	if err != nil {
		return err
	}
	defer release()
	if err := uploader.ClaimRemote(ctx, store, j.UUID()); err != nil {
		if errors.Is(err, uploader.ErrForeignRemote) {
			return exitcode.Wrap(exitcode.Busy, err)
		}
		return exitcode.Wrap(remoteCode(err), err)
	}
	d.store = store
	backingDir, err := beneath.Open(c.Backing)
	if err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	defer backingDir.Close()
	d.up, err = uploader.New(j, d.uploadStore(store), backingDir, uploader.Config{
		UploadDelay: c.UploadDelay, MaxAge: c.MaxAge, Level: c.Level, Logger: d.log,
		Failpoint: failpointFromEnv(),
	})
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	upCtx, stopUploads := context.WithCancel(context.Background())
	d.stopUploads = stopUploads
	uploadsDone := make(chan struct{})
	go func() {
		if c.Upload {
			d.up.Run(upCtx)
		}
		close(uploadsDone)
	}()
	defer func() { stopUploads(); <-uploadsDone }()

	d.fs, err = fs.New(fs.Options{Backing: c.Backing, Journal: j, Exclude: c.Excludes, Passthrough: c.Passthrough, Logger: d.log})
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	defer d.fs.Close()

	ln, err := control.Listen(c.State)
	if err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	defer os.Remove(filepath.Join(c.State, control.SocketName))

	d.server, err = fs.Mount(c.Mountpoint, d.fs, fs.MountOptions{
		FsName:      mountinfo.SourcePrefix + c.State,
		AllowOther:  allowOther(),
		NoWriteback: !c.Writeback,
		Debug:       c.Debug,
	})
	if err != nil {
		ln.Close()
		return exitcode.Wrap(exitcode.Mountpoint, err)
	}
	pidfile := filepath.Join(c.State, "pid")
	os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
	defer os.Remove(pidfile)

	defer control.Serve(ln, d.handler())()
	if c.MetricsAddr != "" {
		stop, err := d.serveMetrics(c.MetricsAddr)
		if err != nil {
			d.server.Unmount()
			return exitcode.Wrap(exitcode.Usage, err)
		}
		defer stop()
	}

	d.log.Printf("mounted %s: backing %s, state %s, remote %s", c.Mountpoint, c.Backing, c.State, c.Remote)
	ready(nil)

	served := make(chan struct{})
	go func() { d.server.Wait(); close(served) }()
	for {
		select {
		case <-served:
			d.log.Printf("unmounted %s", c.Mountpoint)
			return nil
		case <-ctx.Done():
			d.log.Printf("signal: unmounting %s", c.Mountpoint)
			if err := d.server.Unmount(); err != nil {
				d.log.Printf("cannot unmount %s: %v; still serving it", c.Mountpoint, err)
				ctx = context.Background() // serve on; the next unmount request may succeed
			}
		case <-d.stop:
			<-served
			d.log.Printf("unmounted %s", c.Mountpoint)
			return nil
		}
	}
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
		// Everything recorded up to now must ship now.
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
	mux.HandleFunc("POST /unmount", func(w http.ResponseWriter, r *http.Request) {
		if err := d.server.Unmount(); err != nil {
			control.WriteError(w, http.StatusConflict, fmt.Errorf("cannot unmount %s: %v (a process still uses it; see fuser -vm %s)", d.c.Mountpoint, err, d.c.Mountpoint))
			return
		}
		control.WriteJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
		d.stopOnce.Do(func() { close(d.stop) })
	})
	return mux
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
