package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	bytesize "github.com/syncfs/syncfs/internal/size"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "[--json] MOUNTPOINT", stderr)
	asJSON := fs.Bool("json", false, "print JSON (fields: docs/cli.md)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	c, err := clientFor(pos[0])
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodGet, "/status", nil, &raw); err != nil {
		return deadDaemon(pos[0], c, err)
	}
	if *asJSON {
		// As the daemon said it: a read-only mount has fields of its own.
		var v any
		json.Unmarshal(raw, &v)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	var st daemon.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	var ro struct {
		ReadOnly bool   `json:"read_only"`
		Refresh  string `json:"refresh"`
	}
	json.Unmarshal(raw, &ro)
	if ro.ReadOnly {
		fmt.Fprintf(stdout, "%s: read-only view of %s (pid %d, refresh %s)\n", st.Mountpoint, st.Remote, st.PID, ro.Refresh)
		return nil
	}
	fmt.Fprintf(stdout, "%s: pid %d, remote %s\n", st.Mountpoint, st.PID, st.Remote)
	fmt.Fprintf(stdout, "  %s pending in %d files; shipped %s (%s sent)\n", bytesize.Format(st.PendingBytes), len(st.Files), bytesize.Format(st.UploadedBytes), bytesize.Format(st.SentBytes))
	if st.RemoteError != "" {
		fmt.Fprintf(stdout, "  remote error: %s\n", st.RemoteError)
	}
	for _, f := range st.Files {
		var n int64
		for _, p := range f.Dirty {
			n += p[1]
		}
		for _, p := range f.InFlight {
			n += p[1]
		}
		fmt.Fprintf(stdout, "  %10s  %-9s %s\n", bytesize.Format(n), f.State, f.Path)
	}
	return nil
}

// clientFor finds the daemon serving a mountpoint, or watching a
// directory (syncfs watch: its state dir is beside it unless --state
// said otherwise, so pass that to find it).
func clientFor(path string) (*control.Client, error) {
	m, ok, err := mountinfo.Find(path)
	if err != nil {
		return nil, err
	}
	if ok {
		state, ok := m.StateDir()
		if !ok {
			return nil, exitcode.New(exitcode.Mountpoint, "%s is not a writable syncfs mount (it is %s from %s)", path, m.FSType, m.Source)
		}
		return &control.Client{Dir: state}, nil
	}
	if abs, err := filepath.Abs(path); err == nil {
		dir, base := filepath.Split(abs)
		state := filepath.Join(dir, "."+base+".syncfs")
		if _, err := os.Stat(filepath.Join(state, control.SocketName)); err == nil {
			return &control.Client{Dir: state}, nil
		}
	}
	return nil, exitcode.New(exitcode.Mountpoint, "%s is not mounted (nor watched by syncfs watch)", path)
}
