package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/exitcode"
)

const catArgs = "[--offset N] [--length N] [--s3-endpoint URL] URL"

// runCat streams a file of a remote tree (or a range of it) to stdout,
// fetching only the frames of that range, several at once, in order.
func runCat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cat", catArgs, stderr)
	offset := fs.Int64("offset", 0, "first byte to write")
	length := fs.Int64("length", -1, "how many bytes to write (default: to the end)")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if *offset < 0 || *length < -1 {
		return exitcode.New(exitcode.Usage, "cat: --offset and --length must not be negative")
	}
	tree, _, e, err := openTree(ctx, pos[0], *endpoint, browse.Options{Quiet: true}, stderrLogger("cat"))
	if err != nil {
		return err
	}
	m, err := tree.Stat(ctx, e.ID)
	if err != nil {
		return browseErr(fmt.Errorf("%s: %w", pos[0], err))
	}
	switch m.Kind {
	case format.KindDir:
		return exitcode.New(exitcode.Error, "%s is a directory", pos[0])
	case format.KindSymlink:
		return exitcode.New(exitcode.Error, "%s is a symbolic link to %q; cat its target", pos[0], m.Target)
	}
	n := *length
	if n < 0 {
		n = m.Size
	}
	if _, err := tree.File(e.ID, m).WriteTo(ctx, stdout, *offset, n, 4); err != nil {
		if errors.Is(err, browse.ErrStale) {
			return exitcode.New(exitcode.Error, "%s changed while it was being read (version %d was replaced and deleted); run cat again", pos[0], m.Version)
		}
		return browseErr(fmt.Errorf("%s: %w", pos[0], err))
	}
	return nil
}
