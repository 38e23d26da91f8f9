package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
	"github.com/syncfs/syncfs/publish"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/verify"
)

const verifyArgs = "--remote URL [--quick | --published] [--exclude GLOB]... DIR"

// runVerify compares a local tree with the remote and lists every
// differing, missing or extra file; exit 1 if there is any.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", verifyArgs, stderr)
	remoteURL := fs.String("remote", "", "remote URL of the tree (or of a directory in it)")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	quick := fs.Bool("quick", false, "compare block hashes only; do not download and check the data")
	var excludes multiFlag
	fs.Var(&excludes, "exclude", "leave out names matching this glob, as mount --exclude (repeatable)")
	published := fs.Bool("published", false, "compare DIR with the plain objects syncfs publish wrote (under files/ of the remote), byte for byte, instead of the delta tree")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if *remoteURL == "" {
		return exitcode.New(exitcode.Usage, "verify: --remote URL is required")
	}
	ex, err := exclude.New(excludes)
	if err != nil {
		return exitcode.New(exitcode.Usage, "verify: %v", err)
	}
	if *published {
		return verifyPublished(ctx, pos[0], *remoteURL, *endpoint, ex, stdout)
	}
	t, sub, err := browse.OpenURL(ctx, *remoteURL, backend.Options{S3Endpoint: *endpoint}, browse.Options{})
	if err != nil {
		if errors.Is(err, browse.ErrNoTree) {
			return exitcode.Wrap(exitcode.Error, err)
		}
		return exitcode.Wrap(daemon.RemoteCode(err), err)
	}
	r, err := verify.Tree(ctx, t, sub, pos[0], verify.Options{Deep: !*quick, Exclude: ex})
	if err != nil {
		return err
	}
	for _, d := range r.Differences {
		fmt.Fprintln(stdout, d)
	}
	how := "byte for byte"
	if *quick {
		how = "by block hashes"
	}
	if n := len(r.Differences); n > 0 {
		return exitcode.New(exitcode.Error, "verify: %d differences between %s and %s (%d files, %s compared %s)", n, pos[0], *remoteURL, r.Files, bytesize.Format(r.Bytes), how)
	}
	fmt.Fprintf(stdout, "verified %d files, %d dirs, %d symlinks, %s: %s equals %s %s\n", r.Files, r.Dirs, r.Symlinks, bytesize.Format(r.Bytes), pos[0], *remoteURL, how)
	return nil
}

// verifyPublished compares dir with the plain objects of syncfs publish.
func verifyPublished(ctx context.Context, dir, remoteURL, endpoint string, ex *exclude.Matcher, stdout io.Writer) error {
	store, err := backend.Open(ctx, remoteURL, backend.Options{S3Endpoint: endpoint})
	if err != nil {
		return exitcode.Wrap(daemon.RemoteCode(err), err)
	}
	r, err := publish.Verify(ctx, dir, store, publish.Prefix, ex)
	if err != nil {
		return exitcode.Wrap(daemon.RemoteCode(err), fmt.Errorf("verify: %w", err))
	}
	for _, d := range r.Differences {
		fmt.Fprintln(stdout, d)
	}
	to := strings.TrimSuffix(remoteURL, "/") + "/" + strings.TrimSuffix(publish.Prefix, "/")
	if n := len(r.Differences); n > 0 {
		return exitcode.New(exitcode.Error, "verify: %d differences between %s and the plain objects in %s (%d files, %s compared byte for byte)", n, dir, to, r.Files, bytesize.Format(r.Bytes))
	}
	fmt.Fprintf(stdout, "verified %d files, %s: %s equals the plain objects in %s byte for byte\n", r.Files, bytesize.Format(r.Bytes), dir, to)
	return nil
}
