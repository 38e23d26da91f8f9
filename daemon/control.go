package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/uploader"
)

// The control socket's requests (internal/control): status, flush, audit
// and unmount, as the syncfs commands send them.

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
	handleUnmount(mux, d.server, d.c.Mountpoint, d.stop)
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
