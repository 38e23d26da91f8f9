package daemon

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveMetrics serves the daemon's counters in the Prometheus text format
// at http://addr/metrics. The format is a few lines of text; writing them
// directly spares the daemon a metrics library.
func (d *daemon) serveMetrics(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", d.writeMetrics)
	// Profiles of the daemon where it runs, for "where does the time go"
	// on a job's node (go tool pprof http://ADDR/debug/pprof/profile).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

func (d *daemon) writeMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	metric := func(name, kind, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
	}
	us := d.up.Stats()
	var pending int64
	if files, err := d.j.State(); err == nil {
		for _, f := range files {
			pending += f.Dirty.Union(f.InFlight).Bytes()
		}
	}
	metric("syncfs_pending_bytes", "gauge", "Bytes written and not yet in the remote.", pending)
	metric("syncfs_uploaded_bytes_total", "counter", "File bytes shipped.", us.UploadedBytes.Load())
	metric("syncfs_sent_bytes_total", "counter", "Bytes put to the remote, after compression, manifests included.", us.SentBytes.Load())
	metric("syncfs_read_bytes_total", "counter", "Bytes read from the backing dir, to ship or to compare with what was shipped.", us.ReadBytes.Load()+d.rec.ReadBytes.Load())
	metric("syncfs_commits_total", "counter", "Inode commits.", us.Commits.Load())
	metric("syncfs_objects_total", "counter", "Data objects put.", us.Objects.Load())
	metric("syncfs_deleted_objects_total", "counter", "Objects deleted (superseded or unlinked).", us.Deleted.Load())
	metric("syncfs_upload_errors_total", "counter", "Failed commits (retried).", us.Errors.Load())
	metric("syncfs_remote_retries_total", "counter", "Remote requests retried.", d.retries.Load())
	metric("syncfs_journal_commits_total", "counter", "Journal group commits (each one bbolt transaction, two fdatasyncs).", int64(d.j.Commits()))
	metric("syncfs_vanished_total", "counter", "Files removed before they shipped.", us.Vanished.Load())
	metric("syncfs_shortcut_files_total", "counter", "Files created and removed before their create was replayed: no dentry put or deleted.", us.Shortcuts.Load())
	metric("syncfs_touched_windows_total", "counter", "Blocks whose clean pages were written while a commit shipped their dirty ones: the commit shipped those pages too.", us.Touched.Load())
	if d.fs != nil { // a mount, not a watch
		fsst := d.fs.Stats()
		metric("syncfs_writes_total", "counter", "WRITE requests served.", fsst.Writes.Load())
		metric("syncfs_write_bytes_total", "counter", "Bytes written through the mount.", fsst.WriteBytes.Load())
		metric("syncfs_passthrough_opens_total", "counter", "Read-only opens served by kernel passthrough.", fsst.Passthrough.Load())
	}
}
