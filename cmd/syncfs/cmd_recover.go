package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/reconcile"
	"github.com/syncfs/syncfs/uploader"
)

const recoverArgs = "--state DIR --backing DIR --remote URL [--timeout DUR] [--exclude GLOB]..."

// runRecover ships what a journal holds without mounting: for an epilog
// on a node whose daemon died. It compares every file the dead daemon had
// open for write with the remote (block hashes, shipping only what
// differs), scans the backing dir for changes around the journal, ships
// everything and returns when the remote holds it (0), on timeout (3), or
// when the remote refuses writes (1).
func runRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &mountConfig{Upload: true, UploadDelay: time.Second, MaxAge: time.Second, Level: "fastest"}
	fs := newFlags("recover", recoverArgs, stderr)
	fs.StringVar(&c.State, "state", "", "state dir of the dead mount (required)")
	fs.StringVar(&c.Backing, "backing", "", "its backing dir (required)")
	fs.StringVar(&c.Remote, "remote", "", "its remote URL (required)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL")
	fs.Var((*multiFlag)(&c.Excludes), "exclude", "the mount's --exclude patterns (repeatable)")
	fs.BoolVar(&c.Force, "force", false, "take over the remote prefix even from a holder on another host")
	timeout := fs.Duration("timeout", 0, "give up after this long, exit 3 (0: no limit)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	if err := fs.positive("timeout"); err != nil {
		return err
	}
	for name, v := range map[string]string{"--state": c.State, "--backing": c.Backing, "--remote": c.Remote} {
		if v == "" {
			return exitcode.New(exitcode.Usage, "recover: %s is required", name)
		}
	}
	var err error
	for _, p := range []*string{&c.State, &c.Backing} {
		if *p, err = filepath.Abs(*p); err != nil {
			return exitcode.Wrap(exitcode.Usage, err)
		}
	}
	if err := checkURL(c.Remote); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.State, "journal.db")); err != nil {
		return exitcode.New(exitcode.LocalDir, "no journal in %s: %v", c.State, errors.Unwrap(err))
	}
	if err := checkDirWritable("backing dir", c.Backing, false); err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	d := &daemon{c: c, log: log.New(stderr, "syncfs recover: ", log.LstdFlags), stop: make(chan struct{}), recovered: make(chan struct{})}
	j, err := journal.Open(c.State, journal.Options{Holder: fmt.Sprintf("syncfs recover pid %d", os.Getpid())})
	switch {
	case errors.Is(err, journal.ErrLocked):
		return exitcode.Wrap(exitcode.Busy, fmt.Errorf("%w (a daemon still runs: use syncfs flush on its mount instead)", err))
	case err != nil:
		return journalErr(err, nil) // one line on stderr: no detail
	}
	d.j = j
	defer j.Close()
	marks, err := j.OpenMarks()
	if err != nil {
		return err
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
	d.recover(ctx, marks)

	barrier := j.Gen()
	start := time.Now()
	show := newProgress(stdout, false)
	for {
		wait, cancel := context.WithTimeout(ctx, time.Second)
		err := d.up.Flush(wait, barrier)
		cancel()
		switch {
		case err == nil:
			show.done()
			d.recordSeen()
			us := d.up.Stats()
			fmt.Fprintf(stdout, "recovered %s: %s shipped (%s sent) in %v; %d files compared, %d had changes\n",
				c.Backing, humanBytes(us.UploadedBytes.Load()), humanBytes(us.SentBytes.Load()), time.Since(start).Round(time.Millisecond),
				d.rec.Compared.Load(), d.rec.Changed.Load())
			return nil
		case errors.Is(err, uploader.ErrRemoteRejects):
			show.done()
			return exitcode.Wrap(exitcode.Error, err)
		case ctx.Err() != nil:
			show.done()
			p := d.progress(barrier)
			return exitcode.New(exitcode.Timeout, "recover timed out with %s still pending; the journal keeps it: run recover again", humanBytes(p.PendingBytes))
		}
		show.update(d.progress(barrier))
	}
}
