package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// ErrForeignRemote is wrapped by ClaimRemote's error when the prefix holds
// files shipped by another journal: their inode IDs would collide with
// this journal's.
var ErrForeignRemote = errors.New("remote prefix belongs to another journal")

// ClaimRemote makes the store's prefix this journal's: it writes the root
// marker if there is none (a new prefix is format 2), and refuses a prefix
// another journal ships to. It returns the prefix's marker: its format is
// the one the uploader must go on writing (Config.Format).
func ClaimRemote(ctx context.Context, store remote.Store, journalUUID string) (format.Root, error) {
	return claimRemote(ctx, store, format.NewRoot(journalUUID))
}

func claimRemote(ctx context.Context, store remote.Store, want format.Root) (format.Root, error) {
	body := want.Encode()
	err := store.Put(ctx, format.RootKey, bytes.NewReader(body), int64(len(body)), remote.PutOptions{IfAbsent: true})
	if err == nil {
		return want, nil
	}
	if !errors.Is(err, remote.ErrExists) {
		return format.Root{}, err
	}
	b, err := remote.ReadAll(ctx, store, format.RootKey, 64<<10)
	if err != nil {
		return format.Root{}, err
	}
	r, err := format.DecodeRoot(b)
	if err != nil {
		return format.Root{}, fmt.Errorf("remote %s: %w", store, err)
	}
	if r.Journal != want.Journal {
		return format.Root{}, fmt.Errorf("%w: remote %s holds files shipped from another state dir (journal %s, this one is %s); use a new prefix, or mount with the state dir that shipped them", ErrForeignRemote, store, r.Journal, want.Journal)
	}
	return r, nil
}
