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

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
)

const recoverArgs = "--state DIR --backing DIR --remote URL [--timeout DUR] [--exclude GLOB]..."

// runRecover ships what a journal holds without mounting (daemon.Recover):
// for an epilog on a node whose daemon died. It exits 0 when the remote
// holds it all, 3 on timeout, 1 when the remote refuses writes.
func runRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &mountConfig{Config: daemon.Config{Upload: true, UploadDelay: time.Second, MaxAge: time.Second, Level: "fastest"}}
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
	show := newProgress(stdout, false)
	rep, err := daemon.Recover(ctx, c.daemonConfig(), log.New(stderr, "syncfs recover: ", log.LstdFlags), show.update)
	show.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovered %s: %s shipped (%s sent) in %v; %d files compared, %d had changes\n",
		c.Backing, bytesize.Format(rep.UploadedBytes), bytesize.Format(rep.SentBytes), rep.Elapsed.Round(time.Millisecond),
		rep.Compared, rep.Changed)
	return nil
}
