package backend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syncfs/syncfs/remote"
)

var errProbe = errors.New("store probe failed")

// CheckTimeout bounds Check when the caller's context has no deadline: an
// endpoint that swallows packets must not hang a mount.
const CheckTimeout = 30 * time.Second

// Check probes the store the way a mount will use it, so that a mount
// fails before it starts rather than after the job has written for an
// hour: it creates a probe object under the store's root with a
// conditional put (which the writer lease needs), checks that a second
// conditional put is refused, reads the object back, finds it by listing,
// deletes it and checks that it is gone. The first failure is returned as
// one line, classified (ErrNoBucket, ErrAccessDenied, ErrUnreachable,
// ErrTLSBundle, or ErrProbe for a store that answers wrongly).
//
// Pass the store Open returned, not a retrying one: Check reports, it does
// not wait for a store to come back.
func Check(ctx context.Context, s remote.Store) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	key := "syncfs-probe-" + hex.EncodeToString(rnd[:])
	data := []byte("syncfs probe object " + key + "; safe to delete\n")

	probeErr := func(format string, args ...any) error {
		return &remote.Error{Store: s.String(), Class: errProbe, Msg: fmt.Sprintf(format, args...)}
	}
	put := func() error {
		return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), remote.PutOptions{IfAbsent: true})
	}

	if err := put(); err != nil {
		return oneLine(ctx, s, err)
	}
	cleanup := true
	defer func() {
		if cleanup {
			s.Delete(context.WithoutCancel(ctx), key)
		}
	}()
	if err := put(); !errors.Is(err, remote.ErrExists) {
		if err == nil {
			return probeErr("the store ignores conditional writes (If-None-Match: *), which the writer lease relies on")
		}
		return oneLine(ctx, s, err)
	}
	got, err := remote.ReadAll(ctx, s, key, 4096)
	if err != nil {
		return oneLine(ctx, s, err)
	}
	if !bytes.Equal(got, data) {
		return probeErr("probe object %s read back differently (%d bytes, want %d)", key, len(got), len(data))
	}
	found := false
	err = s.List(ctx, key, func(oi remote.ObjectInfo) error {
		found = found || (oi.Key == key && oi.Size == int64(len(data)))
		return nil
	})
	if err != nil {
		return oneLine(ctx, s, err)
	}
	if !found {
		return probeErr("listing does not show probe object %s", key)
	}
	if err := s.Delete(ctx, key); err != nil {
		return oneLine(ctx, s, err)
	}
	cleanup = false
	if _, err := s.Stat(ctx, key); !errors.Is(err, remote.ErrNotFound) {
		if err == nil {
			return probeErr("probe object %s is still there after delete", key)
		}
		return oneLine(ctx, s, err)
	}
	return nil
}

// oneLine makes sure err prints on one line, and turns a check that ran
// out of time into an unreachable endpoint.
func oneLine(ctx context.Context, s remote.Store, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, remote.ErrUnreachable) {
		return &remote.Error{Store: s.String(), Class: remote.ErrUnreachable, Msg: "no answer in time (endpoint unreachable or overloaded)", Err: err}
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		return &flat{err}
	}
	return err
}

type flat struct{ err error }

func (f *flat) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(f.err.Error(), "\n", " ")), " ")
}
func (f *flat) Unwrap() error { return f.err }
