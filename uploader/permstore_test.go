package uploader

import (
	"context"
	"errors"
	"io"

	"github.com/syncfs/syncfs/remote"
)

// permStore refuses every put as a store with a read-only policy would.
type permStore struct{ remote.Store }

func (p *permStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	return remote.Permanent(errors.New("AccessDenied: writes are not allowed"))
}
