package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
	"github.com/syncfs/syncfs/publish"
)

const publishArgs = "[--remote URL] [--state DIR] [--exclude GLOB]... [--json] DIR"

// runPublish puts a plain, byte-identical object of every file of DIR
// under the remote's files/ prefix, for tools that do not speak syncfs.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("publish", publishArgs, stderr)
	o := publishOptions{}
	fs.StringVar(&o.remote, "remote", "", "remote URL (default: the mount's, when DIR is a syncfs mount)")
	fs.StringVar(&o.state, "state", "", "state dir keeping what was published, so that the next run sends only what changed (default: the mount's; else .NAME.syncfs beside DIR)")
	fs.StringVar(&o.endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	fs.Var(&o.excludes, "exclude", "leave out names matching this glob, as mount --exclude (repeatable; default: the mount's)")
	fs.BoolVar(&o.json, "json", false, "print the outcome as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	o.dir = pos[0]
	return publishTree(ctx, o, stdout)
}

type publishOptions struct {
	dir, remote, state, endpoint string
	excludes                     multiFlag
	json                         bool
}

// publishTree resolves what to publish (from the mount's daemon when dir
// is a syncfs mount: its backing dir, remote, state and excludes) and
// publishes it.
func publishTree(ctx context.Context, o publishOptions, stdout io.Writer) error {
	local := o.dir
	if c, err := clientFor(o.dir); err == nil {
		var st daemon.Status
		if err := c.Do(ctx, http.MethodGet, "/status", nil, &st); err != nil {
			return deadDaemon(o.dir, c, err)
		}
		// Read the backing dir, not the mount: the same bytes, without
		// FUSE in the way.
		local = st.Backing
		if o.remote == "" {
			o.remote = st.Remote
		}
		if o.state == "" {
			o.state = st.State
		}
		if len(o.excludes) == 0 {
			o.excludes = st.Exclude
		}
	}
	if o.remote == "" {
		return exitcode.New(exitcode.Usage, "publish: %s is not a syncfs mount: give --remote URL", o.dir)
	}
	if fi, err := os.Stat(local); err != nil || !fi.IsDir() {
		return exitcode.New(exitcode.Usage, "publish: %s is not a directory", local)
	}
	if o.state == "" {
		abs, _ := filepath.Abs(local)
		dir, base := filepath.Split(abs)
		o.state = filepath.Join(dir, "."+base+".syncfs")
	}
	ex, err := exclude.New(o.excludes)
	if err != nil {
		return exitcode.New(exitcode.Usage, "publish: %v", err)
	}
	if err := os.MkdirAll(o.state, 0o700); err != nil {
		return exitcode.New(exitcode.Usage, "publish: state dir: %v", err)
	}
	recs, err := publish.OpenRecords(publish.RecordsPath(o.state, o.remote))
	if errors.Is(err, publish.ErrBusy) {
		return exitcode.Wrap(exitcode.Busy, err)
	}
	if err != nil {
		return err
	}
	defer recs.Close()
	store, err := openRemote(ctx, o.remote, o.endpoint)
	if err != nil {
		return err
	}
	to := strings.TrimSuffix(o.remote, "/") + "/" + strings.TrimSuffix(publish.Prefix, "/")
	show := newPublishProgress(stdout, o.json)
	r, err := publish.Run(ctx, publish.Options{Dir: local, Store: store, Prefix: publish.Prefix, Records: recs, Exclude: ex, Progress: show})
	show(publish.Report{}) // end the progress line
	if err != nil {
		return exitcode.Wrap(daemon.RemoteCode(err), fmt.Errorf("publish: %w", err))
	}
	if o.json {
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return err
		}
	} else {
		for _, s := range r.Skipped {
			fmt.Fprintln(stdout, "skipped", s)
		}
		for _, e := range r.Errors {
			fmt.Fprintln(stdout, "failed ", e)
		}
		for _, n := range r.Notes {
			fmt.Fprintln(stdout, "note:", n)
		}
	}
	if n := len(r.Errors); n > 0 {
		return exitcode.New(exitcode.Error, "publish: %d of %d files could not be published to %s (nothing was deleted); run it again", n, r.Files, to)
	}
	if !o.json {
		fmt.Fprintf(stdout, "published %d files to %s: %d written (%d renamed), %d unchanged, %d deleted; %s sent, %s copied inside the store, %s read\n",
			r.Files, to, r.Published, r.Renamed, r.Unchanged, r.Deleted, bytesize.Format(r.BytesSent), bytesize.Format(r.BytesCopied), bytesize.Format(r.BytesRead))
	}
	return nil
}

// newPublishProgress returns the progress callback: on a terminal one
// line rewritten in place every second, otherwise a line every 5 seconds
// (as flush's). An empty report ends it.
func newPublishProgress(w io.Writer, quiet bool) func(publish.Report) {
	line := newLiveLine(w, 5*time.Second)
	return func(r publish.Report) {
		if quiet {
			return
		}
		if r.Files == 0 {
			line.end()
			return
		}
		s := fmt.Sprintf("publish: %d of %d files done, %s sent, %s copied inside the store", r.Published+r.Unchanged+r.Held+len(r.Errors), r.Files, bytesize.Format(r.BytesSent), bytesize.Format(r.BytesCopied))
		line.show(s, s)
	}
}
