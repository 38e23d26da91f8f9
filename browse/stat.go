package browse

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// Stat reads and validates the manifest of inode id. A missing manifest
// is ErrNotExist, except for the root, which a tree may not have written
// yet: it then reads as an empty directory, mode 0755, created with the
// tree.
func (t *Tree) Stat(ctx context.Context, id format.ID) (*format.Manifest, error) {
	key := format.InodeKey(id)
	b, err := t.readSmall(ctx, key, MaxManifest)
	switch {
	case errors.Is(err, remote.ErrNotFound) && id == format.RootID:
		return &format.Manifest{Version: 1, Kind: format.KindDir, Mode: 0o755, Mtime: t.root.Created}, nil
	case errors.Is(err, remote.ErrNotFound):
		return nil, notExist("inode %v has no manifest (deleted, or not committed yet)", id)
	case errors.Is(err, errTooLarge):
		t.warn.corrupt("%s: %v: refused", t.store, err)
		return nil, err
	case err != nil:
		return nil, err
	}
	m, err := format.DecodeManifest(b)
	if err != nil {
		t.warn.corrupt("%s: %s: %v", t.store, key, err)
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return m, nil
}

// errTooLarge is wrapped by readSmall's error for an object over its
// limit; it is a kind of corruption.
var errTooLarge = fmt.Errorf("%w: object too large", ErrCorrupt)

// readSmall reads a whole object of at most limit bytes (a manifest, a
// dentry), in a GET slot. A larger object is refused, not read.
func (t *Tree) readSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	if err := t.acquire(ctx); err != nil {
		return nil, err
	}
	defer t.release()
	rc, err := t.store.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", errTooLarge, key, limit)
	}
	return b, nil
}
