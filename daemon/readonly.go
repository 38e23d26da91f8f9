package daemon

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/cache"
	"github.com/syncfs/syncfs/browse/rofs"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/internal/size"
)

// ReadOnlyConfig is everything a read-only mount needs. It takes no lease
// and has no journal; its daemon keeps its control socket, pid file and
// log in RunDir, which the mount's source names ("syncfs:<dir>"), so that
// syncfs unmount and syncfs status find it as they find a writable one.
type ReadOnlyConfig struct {
	Mountpoint  string
	Remote      string // the URL, as status shows it
	RunDir      string // one per mountpoint, under the cache dir
	CacheDir    string
	CacheSize   int64
	Refresh     time.Duration
	Debug       bool
	LogFile     string // "" logs to the writer RunReadOnly is given
	Passthrough bool

	// OpenTree opens the tree Remote points into with opts and resolves
	// the path the URL names below its root (rel); its errors carry
	// their exit codes.
	OpenTree func(ctx context.Context, opts browse.Options, logger *log.Logger) (tree *browse.Tree, rel string, root browse.Entry, err error)
}

// roDaemon is a running read-only mount.
type roDaemon struct {
	c      *ReadOnlyConfig
	log    *log.Logger
	fs     *rofs.FS
	cache  *cache.Cache
	server *fuse.Server
	stop   *stopper
}

// RunReadOnly mounts and serves until the mount goes away (the unmount
// request, a signal that ends ctx, or an external umount).
func RunReadOnly(ctx context.Context, c ReadOnlyConfig, ready Ready, stderr io.Writer) (err error) {
	defer func() { ready(err) }() // no-op once ready was told
	logger, closeLog, err := openLog(c.LogFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	d := &roDaemon{c: &c, log: logger, stop: newStopper()}
	run := c.RunDir
	if err := os.MkdirAll(run, 0o700); err != nil {
		return exitcode.New(exitcode.LocalDir, "runtime dir %s: %v", run, errors.Unwrap(err))
	}
	lock, err := os.OpenFile(filepath.Join(run, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return exitcode.New(exitcode.LocalDir, "runtime dir %s: %v", run, errors.Unwrap(err))
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return exitcode.New(exitcode.Busy, "another syncfs daemon serves %s (runtime dir %s)", c.Mountpoint, run)
	}

	if d.cache, err = cache.Open(c.CacheDir, c.CacheSize, cache.Options{Logger: d.log}); err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	defer d.cache.Close()
	tree, rel, root, err := c.OpenTree(ctx, browse.Options{Cache: d.cache, DentryTTL: c.Refresh}, d.log)
	if err != nil {
		return err
	}
	if root.Kind != format.KindDir {
		return exitcode.New(exitcode.Usage, "%s is a %v, not a directory: mount a directory of the tree", c.Remote, root.Kind)
	}
	d.fs = rofs.New(tree, rofs.Options{Refresh: c.Refresh, Logger: d.log, Root: root.ID, NoPassthrough: !c.Passthrough})

	ln, err := control.Listen(run)
	if err != nil {
		return exitcode.Wrap(exitcode.LocalDir, err)
	}
	defer os.Remove(filepath.Join(run, control.SocketName))
	d.server, err = rofs.Mount(c.Mountpoint, d.fs, rofs.MountOptions{
		FsName:     mountinfo.SourcePrefix + run,
		AllowOther: allowOther(),
		Debug:      c.Debug,
	})
	if err != nil {
		ln.Close()
		return exitcode.Wrap(exitcode.Mountpoint, err)
	}
	defer writePID(run)()
	defer control.Serve(ln, d.handler())()

	where := "/"
	if rel != "" {
		where = rel
	}
	d.log.Printf("mounted %s read-only: remote %s (tree %s, journal %s), cache %s (%s), refresh %v",
		c.Mountpoint, c.Remote, where, tree.Root().Journal, c.CacheDir, size.Format(c.CacheSize), c.Refresh)
	ready(nil)
	serveMount(ctx, d.server, d.stop, c.Mountpoint, d.log)
	return nil
}

// ROStatus is what a read-only mount answers to GET /status: the fields
// of Status that apply (nothing is ever dirty), and what it read.
type ROStatus struct {
	PID          int         `json:"pid"`
	Mountpoint   string      `json:"mountpoint"`
	State        string      `json:"state"` // the runtime dir
	Remote       string      `json:"remote"`
	ReadOnly     bool        `json:"read_only"`
	DirtyBytes   int64       `json:"dirty_bytes"`
	PendingBytes int64       `json:"pending_bytes"`
	Errors       []struct{}  `json:"errors"`
	Files        []struct{}  `json:"files"`
	Refresh      string      `json:"refresh"`
	Mount        rofs.Stats  `json:"mount"`
	Cache        cache.Stats `json:"cache"`
}

func (d *roDaemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, ROStatus{PID: os.Getpid(), Mountpoint: d.c.Mountpoint, State: d.c.RunDir,
			Remote: d.c.Remote, ReadOnly: true, Errors: []struct{}{}, Files: []struct{}{}, Refresh: d.c.Refresh.String(),
			Mount: d.fs.Stats(), Cache: d.cache.Stats()})
	})
	handleUnmount(mux, d.server, d.c.Mountpoint, d.stop)
	return mux
}
