package lease_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/syncfs/syncfs/internal/testenv"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/file"
	"github.com/syncfs/syncfs/remote/lease"
	"github.com/syncfs/syncfs/remote/mem"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

var ctx = context.Background()

func acquire(t *testing.T, s remote.Store, h lease.Holder, force bool) *lease.Lease {
	t.Helper()
	l, err := lease.Acquire(ctx, s, h, force)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// plant writes a lease object as another mount would have.
func plant(t *testing.T, s remote.Store, h lease.Holder) {
	t.Helper()
	if h.Token == "" {
		h.Token = "0123456789abcdef0123456789abcdef"
	}
	if h.Renewed.IsZero() {
		h.Renewed = time.Now().Add(-12 * time.Second)
	}
	b, _ := json.Marshal(h)
	if err := s.Put(ctx, lease.Key, bytes.NewReader(b), int64(len(b)), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func host(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAcquireWriteFormat(t *testing.T) {
	s := mem.New("mem://b/p")
	l := acquire(t, s, lease.Holder{Mountpoint: "/scratch/job", StateDir: "/var/lib/syncfs/job"}, false)
	b, err := remote.ReadAll(ctx, s, lease.Key, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "host", "pid", "pid_start", "boot_id", "mountpoint", "state_dir", "started", "renewed", "token"} {
		if _, ok := m[k]; !ok {
			t.Errorf("lease object lacks %q: %s", k, b)
		}
	}
	info := l.Info()
	if info.PID != os.Getpid() || info.Host != host(t) || len(info.Token) != 32 || info.Version != 1 {
		t.Errorf("info %+v", info)
	}
	if !regexp.MustCompile(`"started":"\d{4}-\d\d-\d\dT[0-9:.]+Z"`).Match(b) {
		t.Errorf("times are not RFC 3339 UTC: %s", b)
	}
}

func TestHeldByAnotherHost(t *testing.T) {
	s := mem.New("s3://b/p")
	plant(t, s, lease.Holder{Host: "node042", PID: 1234, Mountpoint: "/x"})
	_, err := lease.Acquire(ctx, s, lease.Holder{}, false)
	if !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("got %v, want ErrHeld", err)
	}
	want := "remote s3://b/p is in use by syncfs pid 1234 on host node042 (mount /x, renewed 12s ago); stop that mount or pass --force if it is dead"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	var he *lease.HeldError
	if !errors.As(err, &he) || he.Holder.PID != 1234 {
		t.Errorf("no holder in %#v", err)
	}

	// An old lease is still not taken without --force: the holder may be
	// alive behind a partition.
	plant(t, s, lease.Holder{Host: "node042", PID: 1234, Mountpoint: "/x", Renewed: time.Now().Add(-50 * time.Hour)})
	if _, err := lease.Acquire(ctx, s, lease.Holder{}, false); !errors.Is(err, lease.ErrHeld) || !strings.Contains(err.Error(), "renewed 2d2h ago") {
		t.Fatalf("got %v", err)
	}
}

func TestForceTakesOver(t *testing.T) {
	s := mem.New("mem://")
	old := acquire(t, s, lease.Holder{Host: "other", PID: 7, Mountpoint: "/a"}, false)
	l := acquire(t, s, lease.Holder{Mountpoint: "/b"}, true)
	if prev, ok := l.TookOver(); !ok || prev.PID != 7 {
		t.Errorf("TookOver = %+v, %v", prev, ok)
	}
	// The old holder learns it lost, and cannot delete the new lease.
	if err := old.Renew(ctx); !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "taken over by syncfs pid") {
		t.Errorf("old renew: %v", err)
	}
	if err := old.Release(ctx); !errors.Is(err, lease.ErrLost) {
		t.Errorf("old release: %v", err)
	}
	if cur, err := lease.Read(ctx, s); err != nil || cur.Token != l.Info().Token {
		t.Errorf("lease after old release: %+v, %v", cur, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lease.Read(ctx, s); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("release left %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	acquire(t, s, lease.Holder{}, false)
}

func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	err := cmd.Run()
	testenv.Need(t, err == nil, "the true command", fmt.Sprint(err))
	return cmd.Process.Pid
}

// TestSameHostCrashRecovery: a lease whose holder on this host is gone is
// taken over without --force; one whose holder lives is not.
func TestSameHostCrashRecovery(t *testing.T) {
	me := host(t)
	self, _ := lease.Read(ctx, func() remote.Store {
		s := mem.New("mem://")
		acquire(t, s, lease.Holder{}, false)
		return s
	}())
	for _, c := range []struct {
		name string
		h    lease.Holder
		dead bool
	}{
		{"pid gone", lease.Holder{Host: me, PID: deadPID(t)}, true},
		{"rebooted", lease.Holder{Host: me, PID: os.Getpid(), BootID: "not-this-boot"}, true},
		{"pid reused", lease.Holder{Host: me, PID: os.Getpid(), PIDStart: self.PIDStart + 1, BootID: self.BootID}, true},
		{"alive", lease.Holder{Host: me, PID: os.Getpid(), PIDStart: self.PIDStart, BootID: self.BootID}, false},
		{"alive, no start time", lease.Holder{Host: me, PID: os.Getpid()}, false},
		{"other host, pid gone", lease.Holder{Host: me + "-other", PID: deadPID(t)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mem.New("mem://")
			plant(t, s, c.h)
			l, err := lease.Acquire(ctx, s, lease.Holder{}, false)
			if c.dead != (err == nil) {
				t.Fatalf("dead=%v: got %v", c.dead, err)
			}
			if c.dead {
				if prev, ok := l.TookOver(); !ok || prev.PID != c.h.PID {
					t.Errorf("TookOver = %+v", prev)
				}
			}
		})
	}
}

func TestUnreadableLease(t *testing.T) {
	s := mem.New("mem://b")
	s.Put(ctx, lease.Key, strings.NewReader("{garbage"), 8, remote.PutOptions{})
	_, err := lease.Acquire(ctx, s, lease.Holder{}, false)
	if !errors.Is(err, lease.ErrHeld) || !strings.Contains(err.Error(), "lease object is unreadable") {
		t.Fatalf("got %v", err)
	}
	acquire(t, s, lease.Holder{}, true)
}

func TestRenewAndKeep(t *testing.T) {
	s := mem.New("mem://")
	l := acquire(t, s, lease.Holder{}, false)
	first := l.Info().Renewed
	time.Sleep(2 * time.Millisecond)
	if err := l.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := lease.Read(ctx, s)
	if !cur.Renewed.After(first) || !cur.Started.Equal(l.Info().Started) {
		t.Errorf("renew: %+v", cur)
	}

	var errs atomic.Int32
	stop := l.Keep(5*time.Millisecond, func(error) { errs.Add(1) })
	time.Sleep(50 * time.Millisecond)
	stop()
	stop()
	after, _ := lease.Read(ctx, s)
	if !after.Renewed.After(cur.Renewed) || errs.Load() != 0 {
		t.Errorf("keep did not renew (%v -> %v, %d errors)", cur.Renewed, after.Renewed, errs.Load())
	}

	// A lease object removed behind the holder's back (the prefix was
	// emptied) is put back: nobody else holds the prefix.
	s.Delete(ctx, lease.Key)
	if err := l.Renew(ctx); err != nil {
		t.Fatalf("renew after the lease object was removed: %v", err)
	}
	if back, err := lease.Read(ctx, s); err != nil || back.Token != l.Info().Token {
		t.Fatalf("the removed lease was not put back: %+v, %v", back, err)
	}

	// Losing the lease to another holder is reported.
	s.Delete(ctx, lease.Key)
	acquire(t, s, lease.Holder{}, false)
	lost := make(chan error, 1)
	stop = l.Keep(5*time.Millisecond, func(err error) {
		select {
		case lost <- err:
		default:
		}
	})
	defer stop()
	if err := <-lost; !errors.Is(err, lease.ErrLost) {
		t.Errorf("got %v, want ErrLost", err)
	}
}

// lostAnswer acts as if the answer to the first conditional put was lost:
// the object is stored, then a retry reports that it exists.
type lostAnswer struct {
	remote.Store
	once sync.Once
}

func (s *lostAnswer) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	err := s.Store.Put(ctx, key, body, size, opts)
	s.once.Do(func() {
		if err == nil && opts.IfAbsent {
			err = fmt.Errorf("retried: %w", remote.ErrExists)
		}
	})
	return err
}

func TestOwnCreateAnswerLost(t *testing.T) {
	s := &lostAnswer{Store: mem.New("mem://")}
	l := acquire(t, s, lease.Holder{}, false)
	if _, took := l.TookOver(); took {
		t.Error("took over its own lease")
	}
}

// TestRace: of many mounts racing for one prefix exactly one wins, on
// every backend (MinIO's If-None-Match and the file backend's link(2)).
func TestRace(t *testing.T) {
	stores := map[string]func(t *testing.T) remote.Store{
		"mem": func(t *testing.T) remote.Store { return mem.New("mem://") },
		"file": func(t *testing.T) remote.Store {
			s, err := file.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) remote.Store {
			srv := miniotest.Start(t)
			return srv.Store(t, srv.NewBucket(t), "job")
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			const n = 8
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := lease.Acquire(ctx, s, lease.Holder{Host: fmt.Sprintf("node%d", i), PID: 100 + i}, false)
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, lease.ErrHeld):
						t.Errorf("node%d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Errorf("%d winners", wins.Load())
			}
		})
	}
}
