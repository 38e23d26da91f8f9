package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/download"
	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/remote/retry"
)

// What ls, cat, get and the read-only mount share: opening a tree from a
// URL, and mapping its errors to exit codes.

// openTree opens the tree a URL points into and resolves the path the
// URL names below its root.
func openTree(ctx context.Context, rawURL, endpoint string, opts browse.Options, logger *log.Logger) (*browse.Tree, string, browse.Entry, error) {
	opts.Logger = logger
	opts.Wrap = func(s remote.Store) remote.Store {
		return retry.New(s, retry.Options{MaxElapsed: 2 * time.Minute, OnRetry: func(e retry.Event) {
			logger.Printf("retrying %s %s in %v (attempt %d failed: %v)", e.Op, e.Key, e.Wait.Round(time.Millisecond), e.Attempt, e.Err)
		}})
	}
	tree, rel, err := browse.OpenURL(ctx, rawURL, backend.Options{S3Endpoint: endpoint}, opts)
	if err != nil {
		return nil, "", browse.Entry{}, browseErr(err)
	}
	e, err := tree.Resolve(ctx, rel)
	if err != nil {
		return nil, "", browse.Entry{}, browseErr(fmt.Errorf("%s: %w", rawURL, stripPath(err)))
	}
	return tree, rel, e, nil
}

// stripPath drops the tree-relative path browse puts in front of a
// not-found error, since the caller names the whole URL.
func stripPath(err error) error {
	switch {
	case errors.Is(err, browse.ErrNotExist):
		return errNoSuchPath
	case errors.Is(err, browse.ErrNotDir):
		return browse.ErrNotDir
	}
	return err
}

// errNoSuchPath is ErrNotExist, worded for a URL.
var errNoSuchPath error = noSuchPath{}

type noSuchPath struct{}

func (noSuchPath) Error() string { return "no such file or directory in the remote tree" }
func (noSuchPath) Unwrap() error { return browse.ErrNotExist }

// browseErr gives a reader's error its exit status: a malformed URL is a
// usage error; a store that cannot be used (missing bucket, credentials,
// unreachable) is a remote error; a path that is not there, a tree that
// is not there, or data that fails its checks, an error.
func browseErr(err error) error {
	var e *exitcode.E
	switch {
	case err == nil || errors.As(err, &e):
		return err
	case errors.Is(err, backend.ErrBadURL):
		return exitcode.Wrap(exitcode.Usage, err)
	case errors.Is(err, browse.ErrNoTree), errors.Is(err, browse.ErrNotExist), errors.Is(err, browse.ErrNotDir),
		errors.Is(err, browse.ErrIsDir), errors.Is(err, browse.ErrCorrupt), errors.Is(err, browse.ErrStale),
		errors.Is(err, download.ErrFailed), errors.Is(err, context.Canceled):
		return exitcode.Wrap(exitcode.Error, err)
	}
	return exitcode.Wrap(daemon.RemoteCode(err), err)
}

// stderrLogger logs one line per problem met (hostile entries skipped)
// to stderr, prefixed like the command's own errors.
func stderrLogger(cmd string) *log.Logger {
	return log.New(os.Stderr, "syncfs: "+cmd+": ", 0)
}

// defaultCacheDir is $XDG_CACHE_HOME/syncfs, else ~/.cache/syncfs.
func defaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "syncfs")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "syncfs")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("syncfs-cache-%d", os.Getuid()))
}
