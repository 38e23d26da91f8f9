package daemon

import (
	"os"
	"sort"

	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/uploader"
)

// Status is what `syncfs status --json` prints. Field names are part of
// the CLI contract (docs/cli.md).
type Status struct {
	PID           int                   `json:"pid"`
	Mountpoint    string                `json:"mountpoint"`
	Backing       string                `json:"backing"`
	State         string                `json:"state"`
	Remote        string                `json:"remote"`
	Exclude       []string              `json:"exclude,omitempty"`         // mount --exclude patterns: what is never shipped (or published)
	WriteMode     string                `json:"write_mode,omitempty"`      // writeback-cache, write-through or direct; none in watch mode
	WriteModeNote string                `json:"write_mode_note,omitempty"` // why write_mode is not what the mount asked for
	DirtyBytes    int64                 `json:"dirty_bytes"`               // written, not yet shipped (in flight included)
	PendingBytes  int64                 `json:"pending_bytes"`             // the same: bytes the remote does not hold yet
	UploadedBytes int64                 `json:"uploaded_bytes"`            // file bytes shipped since the mount
	SentBytes     int64                 `json:"sent_bytes"`                // bytes put to the remote since the mount, after compression, manifests included
	ReadBytes     int64                 `json:"read_bytes"`                // bytes read from the backing dir to ship or to compare
	WrittenBytes  int64                 `json:"written_bytes"`             // bytes written through the mount (none in watch mode)
	PendingOps    int64                 `json:"pending_ops"`               // namespace operations (creates, renames, deletes) and attribute changes not yet in the remote
	Commits       int64                 `json:"commits"`
	Retries       int64                 `json:"retries"`
	Vanished      int64                 `json:"vanished"` // files removed before they shipped: nothing owed to the remote, not an error
	Errors        []uploader.ErrorInfo  `json:"errors"`
	RemoteError   string                `json:"remote_error,omitempty"`   // the remote rejects writes: flush fails with this
	RemoteTrouble *RemoteTrouble        `json:"remote_trouble,omitempty"` // requests are being retried, and why
	Files         []FileStatus          `json:"files"`
	Reconcile     ReconcileStatus       `json:"reconcile"`
	Audit         *uploader.AuditReport `json:"audit,omitempty"` // the last remote audit (at the start, and each flush --verify)
}

// ReconcileStatus counts what the scans and the watcher of the backing
// dir found since the start: changes made around the journal.
type ReconcileStatus struct {
	Adopted      int64 `json:"adopted"`       // entries found that the journal did not have
	Removed      int64 `json:"removed"`       // journaled entries found gone
	Compared     int64 `json:"compared"`      // files compared block by block with what was shipped
	Changed      int64 `json:"changed"`       // ...of which differed
	WatchEvents  int64 `json:"watch_events"`  // inotify events received
	WatchPending int   `json:"watch_pending"` // changes waiting to settle before they are looked at
	WatchRescans bool  `json:"watch_rescans"` // a directory cannot be watched (inotify limit, path beyond PATH_MAX): the tree is rescanned every --max-age
}

// FlushProgress is what the daemon answers about a flush barrier.
type FlushProgress struct {
	Barrier       uint64         `json:"barrier"`
	Settled       bool           `json:"settled"`
	PendingBytes  int64          `json:"pending_bytes"`
	PendingOps    int64          `json:"pending_ops"`
	UploadedBytes int64          `json:"uploaded_bytes"`
	SentBytes     int64          `json:"sent_bytes"`
	Retries       int64          `json:"retries"`
	RemoteTrouble *RemoteTrouble `json:"remote_trouble,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// FileStatus is one file with work pending.
type FileStatus struct {
	Path         string     `json:"path"`
	Dirty        [][2]int64 `json:"dirty"`               // [offset, length] pairs
	InFlight     [][2]int64 `json:"in_flight,omitempty"` // claimed by the uploader
	AttrDirty    bool       `json:"attr_dirty,omitempty"`
	OpenForWrite bool       `json:"open_for_write,omitempty"`
	State        string     `json:"state"` // waiting, uploading, retrying: <error>
}

func pairs(s ranges.Set) [][2]int64 {
	out := make([][2]int64, 0, len(s))
	for _, r := range s {
		out = append(out, [2]int64{r.Off, r.Len})
	}
	return out
}

func (d *daemon) status() (*Status, error) {
	st := &Status{PID: os.Getpid(), Mountpoint: d.c.Mountpoint, Backing: d.c.Backing, State: d.c.State, Remote: d.c.Remote, Exclude: d.c.Excludes, Files: []FileStatus{}}
	if d.fs != nil {
		st.WriteMode, st.WriteModeNote = d.fs.WriteMode(), d.fs.WriteModeNote()
	}
	files, err := d.j.State()
	if err != nil {
		return nil, err
	}
	ops, err := d.j.PendingOps()
	if err != nil {
		return nil, err
	}
	st.PendingOps = int64(ops)
	for _, f := range files {
		st.DirtyBytes += f.Dirty.Union(f.InFlight).Bytes()
		if f.AttrDirty {
			st.PendingOps++
		}
		state := d.up.InodeState(f.ID)
		if state == "" {
			state = "waiting"
		}
		st.Files = append(st.Files, FileStatus{Path: f.Path, Dirty: pairs(f.Dirty), InFlight: pairs(f.InFlight), AttrDirty: f.AttrDirty, OpenForWrite: f.OpenWrite, State: state})
	}
	sort.Slice(st.Files, func(i, k int) bool { return st.Files[i].Path < st.Files[k].Path })
	st.PendingBytes = st.DirtyBytes
	us := d.up.Stats()
	st.UploadedBytes, st.SentBytes, st.ReadBytes = us.UploadedBytes.Load(), us.SentBytes.Load(), us.ReadBytes.Load()+d.rec.ReadBytes.Load()
	st.Commits, st.Retries, st.Vanished = us.Commits.Load(), d.retries.Load(), us.Vanished.Load()
	if d.fs != nil {
		st.WrittenBytes = d.fs.Stats().WriteBytes.Load()
	}
	st.RemoteTrouble = d.trouble.get()
	st.Audit = d.lastAudit()
	var perm error
	st.Errors, perm = d.up.Errors()
	if st.Errors == nil {
		st.Errors = []uploader.ErrorInfo{}
	}
	if perm != nil {
		st.RemoteError = perm.Error()
	}
	if err := d.leaseErr(); err != nil {
		st.RemoteError = "uploads stopped: " + err.Error()
	}
	st.Reconcile = ReconcileStatus{Adopted: d.rec.Adopted.Load(), Removed: d.rec.Removed.Load(),
		Compared: d.rec.Compared.Load(), Changed: d.rec.Changed.Load(),
		WatchEvents: d.watcher.Events.Load(), WatchPending: d.watcher.Pending(), WatchRescans: d.watcher.Limited()}
	return st, nil
}

// progress reports a flush barrier's state without waiting.
func (d *daemon) progress(barrier uint64) FlushProgress {
	p := FlushProgress{Barrier: barrier}
	if files, err := d.j.State(); err == nil {
		for _, f := range files {
			p.PendingBytes += f.Dirty.Union(f.InFlight).Bytes()
			if f.AttrDirty {
				p.PendingOps++
			}
		}
	}
	if n, err := d.j.PendingOps(); err == nil {
		p.PendingOps += int64(n)
	}
	us := d.up.Stats()
	p.UploadedBytes, p.SentBytes = us.UploadedBytes.Load(), us.SentBytes.Load()
	p.Retries, p.RemoteTrouble = d.retries.Load(), d.trouble.get()
	return p
}
