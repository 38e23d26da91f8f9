// Package backend turns a remote URL into a Store and checks, before
// anything is mounted, that the Store is usable.
//
//	store, err := backend.Open(ctx, "s3://bucket/prefix", backend.Options{S3Endpoint: flagEndpoint})
//	if err == nil {
//		err = backend.Check(ctx, store)
//	}
//	if err != nil {
//		fmt.Fprintln(stderr, err) // one line, saying what to fix
//		switch {
//		case errors.Is(err, backend.ErrBadURL): // usage error
//		case errors.Is(err, backend.ErrNoBucket), errors.Is(err, backend.ErrAccessDenied), ...
//		}
//	}
//
// The error classes are those of package remote, re-exported here so the
// CLI need not know where they are defined.
package backend
