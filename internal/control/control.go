// Package control is the daemon's control socket: HTTP with JSON bodies
// over a unix socket in the state directory. The CLI's flush, status and
// unmount talk to a running daemon through it.
//
// A unix socket path is limited to 108 bytes, shorter than many state
// directory paths on HPC scratch file systems, so both ends reach the
// socket through /proc/self/fd/N of the state directory when the plain
// path is too long.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SocketName is the socket's file name in the state directory.
const SocketName = "control.sock"

// shortPath returns a path for the socket in dir that fits sockaddr_un,
// and a cleanup for the fd it may have opened to make it.
func shortPath(dir string) (string, func(), error) {
	p := filepath.Join(dir, SocketName)
	if len(p) < 100 {
		return p, func() {}, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, SocketName), func() { unix.Close(fd) }, nil
}

// Listen creates the control socket in dir, replacing a stale one left by
// a dead daemon (the caller holds the state dir's lock, so no live daemon
// owns it). Only the owner of the state dir may connect.
func Listen(dir string) (net.Listener, error) {
	p, done, err := shortPath(dir)
	if err != nil {
		return nil, err
	}
	defer done()
	os.Remove(filepath.Join(dir, SocketName))
	l, err := net.Listen("unix", p)
	if err != nil {
		return nil, fmt.Errorf("control socket in %s: %w", dir, err)
	}
	os.Chmod(filepath.Join(dir, SocketName), 0o600)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	return l, nil
}

// Serve answers requests on l with h in the background. The returned
// function stops it, waiting (up to a few seconds) for requests in
// progress to be answered: an unmount request is answered after the
// unmount, just before the daemon exits.
func Serve(l net.Listener, h http.Handler) (shutdown func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}
}

// Client talks to the daemon whose state directory is Dir.
type Client struct {
	Dir string
}

// ErrNoDaemon is wrapped by errors for a state dir with no daemon behind
// its socket.
var ErrNoDaemon = errors.New("no syncfs daemon is answering")

func (c *Client) http() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			p, done, err := shortPath(c.Dir)
			if err != nil {
				return nil, err
			}
			defer done()
			var d net.Dialer
			return d.DialContext(ctx, "unix", p)
		},
	}}
}

// Do sends a request to path (e.g. "/status") with body encoded as JSON
// (nil for none) and decodes the JSON answer into out (nil to discard).
// A non-2xx answer becomes an error carrying the daemon's message.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://syncfs"+path, r)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w in %s: %v", ErrNoDaemon, c.Dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("daemon: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// WriteJSON answers a request with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError answers a request with an error message.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, struct {
		Error string `json:"error"`
	}{err.Error()})
}
