package lease

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/syncfs/syncfs/remote"
)

// Key is the lease object's key under the store's root.
const Key = "lease"

// maxSize bounds how much of a lease object is read.
const maxSize = 64 << 10

var (
	// ErrHeld: another mount holds the lease. The error is a *HeldError.
	ErrHeld = errors.New("remote prefix is in use")
	// ErrLost: our lease was taken over by someone else (or replaced by an
	// unreadable object).
	ErrLost = errors.New("lease lost")
)

// Holder is the content of a lease object. Acquire fills in what the
// caller leaves zero: Host, PID, and always BootID, PIDStart, Started,
// Renewed, Token, Version.
type Holder struct {
	Version    int       `json:"version"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	PIDStart   uint64    `json:"pid_start,omitempty"`
	BootID     string    `json:"boot_id,omitempty"`
	Mountpoint string    `json:"mountpoint,omitempty"`
	StateDir   string    `json:"state_dir,omitempty"`
	Started    time.Time `json:"started"`
	Renewed    time.Time `json:"renewed"`
	Token      string    `json:"token"`
}

// HeldError says who holds the lease.
type HeldError struct {
	Store  string // the store, by its String
	Holder Holder // zero if the object could not be parsed
	Bad    error  // why the object could not be parsed, or nil
}

func (e *HeldError) Error() string {
	if e.Bad != nil {
		return fmt.Sprintf("remote %s is in use: its lease object is unreadable (%v); pass --force to take it over", e.Store, e.Bad)
	}
	h := e.Holder
	where := "mount " + h.Mountpoint
	if h.Mountpoint == "" {
		where = "no mountpoint recorded"
	}
	return fmt.Sprintf("remote %s is in use by syncfs pid %d on host %s (%s, renewed %s ago); stop that mount or pass --force if it is dead",
		e.Store, h.PID, h.Host, where, ago(h.Renewed))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lease is a held lease.
type Lease struct {
	store remote.Store

	mu   sync.Mutex // guards info
	info Holder
	took *Holder
}

// Acquire takes the lease of store for holder: it creates the lease object
// if there is none, takes it over if force is set or its holder is a dead
// process on this host, and otherwise fails with a *HeldError.
func Acquire(ctx context.Context, store remote.Store, holder Holder, force bool) (*Lease, error) {
	h, err := fill(holder)
	if err != nil {
		return nil, err
	}
	l := &Lease{store: store, info: h}
	for range 3 {
		err := l.write(ctx, true)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, remote.ErrExists) {
			return nil, err
		}
		cur, err := Read(ctx, store)
		var bad *badLease
		switch {
		case errors.Is(err, remote.ErrNotFound):
			continue // released meanwhile: try again
		case errors.As(err, &bad):
			if !force {
				return nil, &HeldError{Store: store.String(), Bad: bad}
			}
		case err != nil:
			return nil, err
		case cur.Token == h.Token:
			// Our own create, whose answer was lost and retried.
			return l, nil
		case !force && !deadHere(cur):
			return nil, &HeldError{Store: store.String(), Holder: cur}
		default:
			l.took = &cur
		}
		if err := l.write(ctx, false); err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("remote %s: lease changes hands too fast; try again", store.String())
}

// fill completes a Holder for a new lease.
func fill(h Holder) (Holder, error) {
	var err error
	if h.Host == "" {
		if h.Host, err = os.Hostname(); err != nil {
			return h, fmt.Errorf("lease: host name: %w", err)
		}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	h.PIDStart, _ = procStart(h.PID)
	h.BootID = bootID()
	h.Version = 1
	now := time.Now().UTC()
	h.Started, h.Renewed = now, now
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return h, err
	}
	h.Token = hex.EncodeToString(tok[:])
	return h, nil
}

// write stores the lease object, conditionally or not. l.mu need not be
// held by Acquire (the Lease is not shared yet) and is held by Renew.
func (l *Lease) write(ctx context.Context, ifAbsent bool) error {
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return l.store.Put(ctx, Key, bytes.NewReader(b), int64(len(b)), remote.PutOptions{IfAbsent: ifAbsent})
}

// errRemoved: the lease object is gone. Renew puts it back; Release has
// nothing to do.
var errRemoved = errors.New("lease removed")

// badLease: the lease object exists but is not a lease.
type badLease struct{ err error }

func (b *badLease) Error() string { return b.err.Error() }

// Read returns the current lease of store, or an error wrapping
// remote.ErrNotFound if there is none.
func Read(ctx context.Context, store remote.Store) (Holder, error) {
	b, err := remote.ReadAll(ctx, store, Key, maxSize)
	if err != nil {
		return Holder{}, err
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil {
		return Holder{}, &badLease{err}
	}
	if h.Token == "" {
		return Holder{}, &badLease{errors.New("no token")}
	}
	return h, nil
}

// Info returns the lease as last written.
func (l *Lease) Info() Holder {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// TookOver returns the holder whose lease Acquire took over, if it did.
func (l *Lease) TookOver() (Holder, bool) {
	if l.took == nil {
		return Holder{}, false
	}
	return *l.took, true
}

// Renew records that the holder is alive. It fails with ErrLost if the
// lease is no longer ours; the daemon must then stop writing. A lease
// object that is gone (the prefix was emptied behind our back) is put back
// conditionally: nobody else holds the prefix then, and if someone takes
// it first, the conditional put fails and the lease is lost.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.check(ctx)
	if errors.Is(err, errRemoved) {
		err = l.write(ctx, true)
		if errors.Is(err, remote.ErrExists) {
			err = l.check(ctx) // ours (a retried put) or someone else's
		}
	}
	if err != nil {
		return err
	}
	l.info.Renewed = time.Now().UTC()
	return l.write(ctx, false)
}

// check fails with ErrLost if the stored lease is not ours.
func (l *Lease) check(ctx context.Context) error {
	cur, err := Read(ctx, l.store)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return fmt.Errorf("remote %s: %w: the lease object was removed", l.store.String(), errRemoved)
	case err != nil:
		var bad *badLease
		if errors.As(err, &bad) {
			return fmt.Errorf("remote %s: %w: the lease object was replaced by an unreadable one", l.store.String(), ErrLost)
		}
		return err
	case cur.Token != l.info.Token:
		return fmt.Errorf("remote %s: %w: taken over by syncfs pid %d on host %s (mount %s)",
			l.store.String(), ErrLost, cur.PID, cur.Host, cur.Mountpoint)
	}
	return nil
}

// Keep renews the lease every interval until stop is called (stop waits
// for a renewal in progress). Failures go to onErr, which must not block
// for long; errors.Is(err, ErrLost) means another mount has the prefix.
func (l *Lease) Keep(every time.Duration, onErr func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, max(every, time.Minute))
			err := l.Renew(rctx)
			rcancel()
			if err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}()
	return sync.OnceFunc(func() { cancel(); <-done })
}

// Release deletes the lease object if it is still ours. If another mount
// holds it now, it leaves it alone and returns an ErrLost error; if there
// is none, there is nothing to do.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := Read(ctx, l.store); errors.Is(err, remote.ErrNotFound) {
		return nil // nothing left to release
	}
	if err := l.check(ctx); err != nil {
		return err
	}
	return l.store.Delete(ctx, Key)
}

// ago formats how long ago t was, to the second: "12s", "5m3s", "3h2m".
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
