package limit_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/limit"
	"github.com/syncfs/syncfs/remote/mem"
	"github.com/syncfs/syncfs/remote/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConfig(t, storetest.Config{InMemory: true}, func(t *testing.T) remote.Store {
		return limit.New(mem.New("mem://"+t.Name()), 2)
	})
}

// slow counts operations in flight.
type slow struct {
	remote.Store
	now, peak atomic.Int32
}

func (s *slow) enter() func() {
	n := s.now.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	return func() { s.now.Add(-1) }
}

func (s *slow) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	defer s.enter()()
	return s.Store.Put(ctx, key, body, size, opts)
}

func (s *slow) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	defer s.enter()()
	return s.Store.Stat(ctx, key)
}

func TestBoundsConcurrency(t *testing.T) {
	inner := &slow{Store: mem.New("mem://")}
	s := limit.New(inner, 3)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				s.Put(context.Background(), "k", strings.NewReader("v"), 1, remote.PutOptions{})
			} else {
				s.Stat(context.Background(), "k")
			}
		}()
	}
	wg.Wait()
	if p := inner.peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3", p)
	}
}

func TestGetHoldsSlotUntilClose(t *testing.T) {
	ctx := context.Background()
	s := limit.New(mem.New("mem://"), 1)
	s.Put(ctx, "k", strings.NewReader("v"), 1, remote.PutOptions{})
	rc, err := s.Get(ctx, "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Stat(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stat while a reader is open: got %v, want to wait for the slot", err)
	}
	// List takes no slot, and its callback may use the store.
	err = s.List(ctx, "", func(oi remote.ObjectInfo) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	rc.Close() // a second Close must not free a second slot
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	rc2, _ := s.Get(ctx, "k", 0, -1)
	defer rc2.Close()
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := s.Stat(short2, "k"); err == nil {
		t.Error("double Close freed an extra slot")
	}
}
