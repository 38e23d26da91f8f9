package browsetest

import (
	"context"
	"io"
	"strings"
	"sync/atomic"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Counting)(nil)

// Counting is a store that counts the requests made through it.
type Counting struct {
	remote.Store
	Gets, Lists, Stats atomic.Int64
	DataGets           atomic.Int64 // GETs of data objects (d/...)
	GetBytes           atomic.Int64
}

// Get counts and passes on.
func (c *Counting) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.Gets.Add(1)
	if strings.HasPrefix(key, "d/") {
		c.DataGets.Add(1)
	}
	rc, err := c.Store.Get(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, &c.GetBytes}, nil
}

// List counts and passes on.
func (c *Counting) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	c.Lists.Add(1)
	return c.Store.List(ctx, prefix, fn)
}

// Stat counts and passes on.
func (c *Counting) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	c.Stats.Add(1)
	return c.Store.Stat(ctx, key)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}
