package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
)

// What every daemon shares, writable or read-only: its log, its pid file
// and control socket in its runtime dir, the loop that serves a mount
// until it goes away, and the unmount request.

// openLog returns the daemon's logger: on the file at path if one is
// named, else on w. The returned function closes the file.
func openLog(path string, w io.Writer) (*log.Logger, func(), error) {
	closeLog := func() {}
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, exitcode.New(exitcode.LocalDir, "log file %s: %v", path, err)
		}
		w, closeLog = f, func() { f.Close() }
	}
	return log.New(w, fmt.Sprintf("syncfs[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds), closeLog, nil
}

// writePID writes this process's pid into dir/pid, for syncfs unmount to
// wait on; the returned function removes it.
func writePID(dir string) func() {
	p := filepath.Join(dir, "pid")
	os.WriteFile(p, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
	return func() { os.Remove(p) }
}

// stopper is closed, once, when the control socket asked the daemon to
// end (after a successful unmount, or for a watch).
type stopper struct {
	once sync.Once
	ch   chan struct{}
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }

func (s *stopper) stop() { s.once.Do(func() { close(s.ch) }) }

// serveMount returns when the mount served by server went away: an
// external umount, or an unmount request (stop) that succeeded. A signal
// (ctx done) asks for the unmount; a mount still in use is served on, and
// a later signal or request may unmount it.
func serveMount(ctx context.Context, server *fuse.Server, stop *stopper, mountpoint string, logger *log.Logger) {
	served := make(chan struct{})
	go func() { server.Wait(); close(served) }()
	for {
		select {
		case <-served:
			logger.Printf("unmounted %s", mountpoint)
			return
		case <-ctx.Done():
			logger.Printf("signal: unmounting %s", mountpoint)
			if err := server.Unmount(); err != nil {
				logger.Printf("cannot unmount %s: %v; still serving it", mountpoint, err)
				ctx = context.Background()
			}
		case <-stop.ch:
			<-served
			logger.Printf("unmounted %s", mountpoint)
			return
		}
	}
}

// handleUnmount answers POST /unmount: it unmounts (server nil: a watch,
// nothing to unmount) and then ends the daemon.
func handleUnmount(mux *http.ServeMux, server *fuse.Server, mountpoint string, stop *stopper) {
	mux.HandleFunc("POST /unmount", func(w http.ResponseWriter, r *http.Request) {
		if server != nil {
			if err := server.Unmount(); err != nil {
				control.WriteError(w, http.StatusConflict, fmt.Errorf("cannot unmount %s: %v (a process still uses it; see fuser -vm %s)", mountpoint, err, mountpoint))
				return
			}
		}
		control.WriteJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
		stop.stop()
	})
}

// allowOther says whether other users may use a mount: root may always
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
