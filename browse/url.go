package browse

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
)

// OpenURL opens the tree a URL points into and returns it with the path
// below the tree's root that the URL names ("" for the root itself).
// The URL may name the root (the prefix holding syncfs.json) or any path
// inside the tree: s3://bucket/jobs/42/results/run.odb with the root at
// s3://bucket/jobs/42 gives the tree and "results/run.odb". Parents are
// tried deepest first, with one request each.
//
// A malformed URL gives an error wrapping backend.ErrBadURL; a URL with
// no tree at or above it, ErrNoTree; a store that cannot be reached, the
// store's classified error.
func OpenURL(ctx context.Context, rawURL string, bopts backend.Options, opts Options) (*Tree, string, error) {
	if _, err := backend.Parse(rawURL); err != nil && !isPathProblem(rawURL) {
		return nil, "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	parts := splitPath(u.Path)
	for i := len(parts); i >= 0; i-- {
		base := *u
		base.Path = "/" + strings.Join(parts[:i], "/")
		base.RawPath = ""
		candidate := base.String()
		if u.Scheme == "s3" && i == 0 {
			candidate = "s3://" + u.Host
		}
		if _, err := backend.Parse(candidate); err != nil {
			continue // a path component that cannot be a key prefix
		}
		store, err := backend.Open(ctx, candidate, bopts)
		if err != nil {
			return nil, "", err
		}
		t, err := Open(ctx, store, opts)
		if err == nil {
			if opts.Wrap != nil {
				t = newTree(opts.Wrap(store), t.root, opts)
			}
			return t, strings.Join(parts[i:], "/"), nil
		}
		switch {
		case errors.Is(err, ErrNoTree):
		case u.Scheme == "file" && errors.Is(err, remote.ErrNoBucket):
			// a path below the root directory: no such directory
		default:
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("%w at %s or any parent of it (no %s found)", ErrNoTree, redact(u), format.RootKey)
}

// isPathProblem says whether backend.Parse refused rawURL only for its
// path, which may hold file names no key prefix can (they are resolved
// through dentries, not as keys).
func isPathProblem(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "file") {
		return false
	}
	base := *u
	base.Path, base.RawPath = "/", ""
	if u.Scheme == "s3" {
		_, err = backend.Parse("s3://" + u.Host)
	} else {
		_, err = backend.Parse(base.String())
	}
	return err == nil
}

func redact(u *url.URL) string {
	if u.User != nil {
		return u.Redacted()
	}
	return u.String()
}
