package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
	"github.com/syncfs/syncfs/remote/retry"
	"github.com/syncfs/syncfs/remote/storetest"
)

var errFlaky = errors.New("injected transient failure")

// flaky fails the first fail[op] calls of each operation with a transient
// error; a failing Put first reads half its body, as a connection reset
// mid-upload would.
type flaky struct {
	remote.Store
	mu       sync.Mutex
	fail     map[string]int
	attempts map[string]int
	failWith error
}

func newFlaky(fail map[string]int) *flaky {
	return &flaky{Store: mem.New("mem://flaky"), fail: fail, attempts: map[string]int{}, failWith: errFlaky}
}

func (f *flaky) hit(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[op]++
	if f.fail[op] > 0 {
		f.fail[op]--
		return f.failWith
	}
	return nil
}

func (f *flaky) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[op]
}

func (f *flaky) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	if err := f.hit("put"); err != nil {
		io.CopyN(io.Discard, body, size/2)
		return err
	}
	// Read from wherever the body is: the decorator must have rewound it.
	b := make([]byte, size)
	if _, err := io.ReadFull(body, b); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, bytes.NewReader(b), size, opts)
}

func (f *flaky) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := f.hit("get"); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key, off, length)
}

func (f *flaky) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	if err := f.hit("stat"); err != nil {
		return remote.ObjectInfo{}, err
	}
	return f.Store.Stat(ctx, key)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	if err := f.hit("delete"); err != nil {
		return err
	}
	return f.Store.Delete(ctx, key)
}

// List fails after delivering two more keys than the previous attempt.
func (f *flaky) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	failing := f.hit("list") != nil
	n := 2 * f.count("list")
	i := 0
	return f.Store.List(ctx, prefix, func(oi remote.ObjectInfo) error {
		if failing && i == n {
			return f.failWith
		}
		i++
		return fn(oi)
	})
}

func fast(events *[]retry.Event) retry.Options {
	var mu sync.Mutex
	return retry.Options{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxElapsed: 10 * time.Second,
		OnRetry: func(e retry.Event) {
			mu.Lock()
			defer mu.Unlock()
			if events != nil {
				*events = append(*events, e)
			}
		}}
}

func TestConformance(t *testing.T) {
	storetest.RunConfig(t, storetest.Config{InMemory: true}, func(t *testing.T) remote.Store {
		return retry.New(mem.New("mem://"+t.Name()), retry.Options{})
	})
}

func TestPutRetriesAndRewinds(t *testing.T) {
	f := newFlaky(map[string]int{"put": 3})
	var events []retry.Event
	s := retry.New(f, fast(&events))
	want := []byte("the whole body, every byte of it")
	if err := s.Put(context.Background(), "k", bytes.NewReader(want), int64(len(want)), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := remote.ReadAll(context.Background(), f.Store, "k", 100)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stored %q, %v; want %q", got, err, want)
	}
	if n := f.count("put"); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
	if len(events) != 3 || events[0].Op != "put" || events[0].Key != "k" || events[2].Attempt != 3 || !errors.Is(events[1].Err, errFlaky) {
		t.Errorf("events: %+v", events)
	}
}

func TestEveryOperationRetries(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(map[string]int{"get": 2, "stat": 2, "delete": 2})
	s := retry.New(f, fast(nil))
	f.Store.Put(ctx, "k", strings.NewReader("v"), 1, remote.PutOptions{})
	rc, err := s.Get(ctx, "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"get", "stat", "delete"} {
		if n := f.count(op); n != 3 {
			t.Errorf("%s: %d attempts, want 3", op, n)
		}
	}
}

func TestPermanentNotRetried(t *testing.T) {
	ctx := context.Background()
	for _, perm := range []error{
		remote.Permanent(errors.New("403 access denied")),
		fmt.Errorf("wrapped: %w", remote.ErrNotFound),
		remote.ErrExists,
		remote.ErrInvalidKey,
		context.Canceled,
	} {
		f := newFlaky(map[string]int{"put": 1, "stat": 1})
		f.failWith = perm
		s := retry.New(f, fast(nil))
		err := s.Put(ctx, "k", strings.NewReader("v"), 1, remote.PutOptions{})
		if !errors.Is(err, perm) && err.Error() != perm.Error() {
			t.Errorf("put: got %v, want %v", err, perm)
		}
		s.Stat(ctx, "k")
		if f.count("put") != 1 || f.count("stat") != 1 {
			t.Errorf("%v: retried (%d puts, %d stats)", perm, f.count("put"), f.count("stat"))
		}
	}
}

func TestGivesUpAfterMaxElapsed(t *testing.T) {
	f := newFlaky(map[string]int{"stat": 1 << 30})
	s := retry.New(f, retry.Options{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 100 * time.Millisecond})
	start := time.Now()
	_, err := s.Stat(context.Background(), "k")
	if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("took %s with MaxElapsed 100ms", d)
	}
	if f.count("stat") < 3 {
		t.Errorf("only %d attempts", f.count("stat"))
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	f := newFlaky(map[string]int{"delete": 1 << 30})
	s := retry.New(f, retry.Options{Initial: time.Hour, Max: time.Hour, MaxElapsed: 10 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := s.Delete(ctx, "k")
	if !errors.Is(err, context.Canceled) || !remote.IsPermanent(err) {
		t.Errorf("got %v, want a context.Canceled error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %s to stop the wait", d)
	}
}

func TestListResumesAfterLastKey(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(map[string]int{"list": 3})
	for i := range 10 {
		f.Store.Put(ctx, fmt.Sprintf("k%d", i), strings.NewReader("v"), 1, remote.PutOptions{})
	}
	s := retry.New(f, fast(nil))
	var got []string
	if err := s.List(ctx, "", func(oi remote.ObjectInfo) error { got = append(got, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "k0,k1,k2,k3,k4,k5,k6,k7,k8,k9" {
		t.Errorf("fn saw %q", got)
	}
	if f.count("list") != 4 {
		t.Errorf("%d attempts", f.count("list"))
	}

	// An error from fn ends the listing at once, unretried.
	stop := errors.New("stop")
	f = newFlaky(nil)
	f.Store.Put(ctx, "a", strings.NewReader("v"), 1, remote.PutOptions{})
	s = retry.New(f, fast(nil))
	if err := s.List(ctx, "", func(remote.ObjectInfo) error { return stop }); err != stop {
		t.Errorf("got %v, want fn's error itself", err)
	}
	if f.count("list") != 1 {
		t.Errorf("fn's error was retried")
	}
}

// TestBackoff: waits are jittered over [0, ceiling] and the ceiling doubles
// up to Max.
func TestBackoff(t *testing.T) {
	f := newFlaky(map[string]int{"stat": 12})
	var events []retry.Event
	opts := fast(&events)
	opts.Initial, opts.Max = time.Millisecond, 8*time.Millisecond
	s := retry.New(f, opts)
	if _, err := s.Stat(context.Background(), "missing"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatal(err)
	}
	for _, e := range events {
		ceiling := min(8*time.Millisecond, time.Millisecond<<(e.Attempt-1))
		if e.Wait <= 0 || e.Wait > ceiling {
			t.Errorf("attempt %d: wait %s outside (0, %s]", e.Attempt, e.Wait, ceiling)
		}
	}
	if len(events) != 12 {
		t.Errorf("%d retries, want 12", len(events))
	}
}
