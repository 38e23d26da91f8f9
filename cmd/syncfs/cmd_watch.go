package main

import (
	"context"
	"io"
	"path/filepath"
	"time"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
)

const watchArgs = "--remote URL [--state DIR] [--exclude GLOB]... [--foreground] DIR"

// runWatch ships a plain directory without FUSE, for nodes that have none:
// it watches DIR with inotify and, when a file changes, compares its
// blocks with what was last shipped (hashes kept in the journal) and ships
// the blocks that differ. Unlike a mount, it reads a changed file once to
// hash it: a mount sees the writes and never has to.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &mountConfig{Config: daemon.Config{Watch: true, Upload: true}}
	fs := newFlags("watch", watchArgs, stderr)
	fs.StringVar(&c.Remote, "remote", "", "remote URL: file:///abs/path or s3://bucket/prefix (required)")
	fs.StringVar(&c.State, "state", "", "state directory (default: .NAME.syncfs beside DIR)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL")
	fs.Var((*multiFlag)(&c.Excludes), "exclude", "never ship names matching this glob (repeatable)")
	fs.BoolVar(&c.Force, "force", false, "take over the remote prefix from a holder that is dead")
	fs.BoolVar(&c.Foreground, "foreground", false, "stay in the foreground and log to stderr")
	fs.StringVar(&c.LogFile, "log", "", "log file (default: STATE/syncfs.log; stderr with --foreground)")
	fs.DurationVar(&c.UploadDelay, "upload-delay", 2*time.Second, "ship a changed file once it went this long without a change")
	fs.DurationVar(&c.MaxAge, "max-age", 30*time.Second, "never hold a change longer than this")
	fs.StringVar(&c.Level, "zstd-level", "fastest", "zstd level")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at this address")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if err := fs.positive("upload-delay", "max-age"); err != nil {
		return err
	}
	if c.Remote == "" {
		return exitcode.New(exitcode.Usage, "watch: --remote URL is required (file:///abs/path or s3://bucket/prefix)")
	}
	for _, p := range []*string{&pos[0], &c.State, &c.LogFile} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
		}
	}
	c.Backing = pos[0]
	if c.State == "" {
		dir, base := filepath.Split(c.Backing)
		c.State = filepath.Join(dir, "."+base+".syncfs")
	}
	if err := checkURL(c.Remote); err != nil {
		return err
	}
	if err := checkDirWritable("watched dir", c.Backing, false); err != nil {
		return err
	}
	if err := checkDirWritable("state dir", c.State, true); err != nil {
		return err
	}
	if within(c.State, c.Backing) {
		return exitcode.New(exitcode.Usage, "the state dir %s must not be inside the watched dir %s", c.State, c.Backing)
	}
	if c.Foreground {
		return daemon.Run(ctx, c.daemonConfig(), readyFromEnv(), stderr)
	}
	return startDaemon(ctx, c, stdout)
}
