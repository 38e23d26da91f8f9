package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
)

// openRemote opens the store a URL names and checks, with real requests,
// that it can be written: the failure a user must hear about before any
// job writes a byte.
func openRemote(ctx context.Context, rawURL, endpoint string) (remote.Store, error) {
	s, err := backend.Open(ctx, rawURL, backend.Options{S3Endpoint: endpoint})
	if err != nil {
		return nil, exitcode.Wrap(daemon.RemoteCode(err), err)
	}
	if err := backend.Check(ctx, s); err != nil {
		return nil, exitcode.Wrap(daemon.RemoteCode(err), err)
	}
	return s, nil
}

// failpointFromEnv lets the crash tests kill the daemon, for real, at a
// named point of a commit: SYNCFS_FAILPOINT=after-put or after-manifest
// (optionally "name:N" to fire at the N-th time).
func failpointFromEnv() func(string) {
	spec := os.Getenv("SYNCFS_FAILPOINT")
	if spec == "" {
		return nil
	}
	name, nth, _ := strings.Cut(spec, ":")
	n, _ := strconv.Atoi(nth)
	var count atomic.Int64
	return func(point string) {
		if point != name {
			return
		}
		if count.Add(1) >= int64(max(n, 1)) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns
		}
	}
}
