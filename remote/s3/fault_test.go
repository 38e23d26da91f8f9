package s3_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/retry"
	"github.com/syncfs/syncfs/remote/s3"
	"github.com/syncfs/syncfs/remote/storetest"
)

// faulty is a store reaching MinIO through a FaultProxy, with short stall
// timeouts, plus a direct store on the same bucket to check what landed.
type faulty struct {
	proxy   *miniotest.FaultProxy
	raw     *s3.Store    // through the proxy, no retries
	store   *retry.Store // raw with retries
	direct  remote.Store // straight to MinIO
	retries atomic.Int32
	events  chan retry.Event
}

func newFaulty(t *testing.T) *faulty {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	f := &faulty{proxy: miniotest.NewFaultProxy(t, srv.Endpoint), events: make(chan retry.Event, 100)}
	opts := srv.Options()
	opts.Endpoint = f.proxy.URL
	opts.StallTimeout = 300 * time.Millisecond
	f.raw = srv.StoreWith(t, bucket, "f", opts)
	f.store = retry.New(f.raw, retry.Options{
		Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 30 * time.Second,
		OnRetry: func(e retry.Event) {
			f.retries.Add(1)
			select {
			case f.events <- e:
			default:
			}
		},
	})
	f.direct = srv.Store(t, bucket, "f")
	return f
}

// failFirst injects fault into the first n requests that match.
func failFirst(n int, fault miniotest.Fault, match func(r *http.Request) bool) func(*http.Request, int) miniotest.Fault {
	var left atomic.Int32
	left.Store(int32(n))
	return func(r *http.Request, _ int) miniotest.Fault {
		if match(r) && left.Add(-1) >= 0 {
			return fault
		}
		return miniotest.Pass
	}
}

func isPut(r *http.Request) bool { return r.Method == http.MethodPut }
func isGet(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("list-type") == ""
}

func sum(t *testing.T, s remote.Store, key string) [32]byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestPutSurvivesFaults: uploads through the retry wrapper complete with
// the right bytes despite error statuses, connections reset mid-body and
// stalled requests, for single and multipart puts.
func TestPutSurvivesFaults(t *testing.T) {
	faults := []miniotest.Fault{miniotest.Status500, miniotest.Status503, miniotest.ResetRequest, miniotest.StallRequest}
	for _, fault := range faults {
		for _, size := range []int64{1<<20 + 3, 20<<20 + 5} {
			t.Run(fmt.Sprintf("%v/%dMiB", fault, size>>20), func(t *testing.T) {
				f := newFaulty(t)
				f.proxy.SetRule(failFirst(2, fault, isPut))
				g := storetest.NewGen(int64(size), size)
				start := time.Now()
				if err := f.store.Put(context.Background(), "obj", g, size, remote.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("took %s", d)
				}
				if sum(t, f.direct, "obj") != g.Sum() {
					t.Fatal("object differs from what was put")
				}
				if size <= 16<<20 && f.retries.Load() != 2 {
					// A multipart put retries failed parts itself; a single
					// put is retried by the wrapper.
					t.Errorf("%d retries by the wrapper, want 2", f.retries.Load())
				}
				if fault == miniotest.StallRequest && f.retries.Load() > 0 {
					if e := <-f.events; !strings.Contains(e.Err.Error(), "no progress for 300ms") {
						t.Errorf("stall reported as %v", e.Err)
					}
				}
			})
		}
	}
}

// TestMultipartRetriesParts: a failed part is sent again without starting
// the object over.
func TestMultipartRetriesParts(t *testing.T) {
	f := newFaulty(t)
	var parts, creates atomic.Int32
	inner := failFirst(2, miniotest.Status503, func(r *http.Request) bool {
		return isPut(r) && r.URL.Query().Get("partNumber") == "2"
	})
	f.proxy.SetRule(func(r *http.Request, n int) miniotest.Fault {
		switch {
		case isPut(r):
			parts.Add(1)
		case r.Method == http.MethodPost && r.URL.Query().Has("uploads"):
			creates.Add(1)
		}
		return inner(r, n)
	})
	const size = 30 << 20
	g := storetest.NewGen(3, size)
	if err := f.raw.Put(context.Background(), "obj", g, size, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if sum(t, f.direct, "obj") != g.Sum() {
		t.Fatal("object differs")
	}
	if creates.Load() != 1 || parts.Load() != 4+2 {
		t.Errorf("%d uploads started, %d part requests; want 1 and 6", creates.Load(), parts.Load())
	}
}

func TestGetSurvivesFaults(t *testing.T) {
	for _, fault := range []miniotest.Fault{miniotest.Status500, miniotest.Status503, miniotest.StallRequest} {
		t.Run(fault.String(), func(t *testing.T) {
			f := newFaulty(t)
			g := storetest.NewGen(9, 3<<20)
			if err := f.direct.Put(context.Background(), "obj", g, 3<<20, remote.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			f.proxy.SetRule(failFirst(2, fault, isGet))
			if sum(t, f.store, "obj") != g.Sum() {
				t.Fatal("read back differs")
			}
			if f.retries.Load() != 2 {
				t.Errorf("%d retries, want 2", f.retries.Load())
			}
			// Stat, List and Delete are retried too.
			f.proxy.SetRule(failFirst(2, fault, func(*http.Request) bool { return true }))
			if _, err := f.store.Stat(context.Background(), "obj"); err != nil {
				t.Fatal(err)
			}
			f.proxy.SetRule(failFirst(2, fault, func(*http.Request) bool { return true }))
			n := 0
			if err := f.store.List(context.Background(), "", func(remote.ObjectInfo) error { n++; return nil }); err != nil || n != 1 {
				t.Fatalf("list: %d keys, %v", n, err)
			}
			f.proxy.SetRule(failFirst(2, fault, func(*http.Request) bool { return true }))
			if err := f.store.Delete(context.Background(), "obj"); err != nil {
				t.Fatal(err)
			}
			if f.retries.Load() != 8 {
				t.Errorf("%d retries in all, want 8", f.retries.Load())
			}
		})
	}
}

// TestGetBodyFaults: a body cut or stalled half-way is an error from Read
// (never a short object read as complete), within the stall timeout.
func TestGetBodyFaults(t *testing.T) {
	for _, fault := range []miniotest.Fault{miniotest.ResetResponse, miniotest.StallResponse} {
		t.Run(fault.String(), func(t *testing.T) {
			f := newFaulty(t)
			g := storetest.NewGen(10, 4<<20)
			f.direct.Put(context.Background(), "obj", g, 4<<20, remote.PutOptions{})
			f.proxy.SetRule(failFirst(1, fault, isGet))
			rc, err := f.store.Get(context.Background(), "obj", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			start := time.Now()
			n, err := io.Copy(io.Discard, rc)
			if err == nil {
				t.Fatalf("read %d of %d bytes and no error", n, 4<<20)
			}
			if remote.IsPermanent(err) {
				t.Errorf("a broken body is reported as permanent: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to notice", d)
			}
			t.Log(err)
		})
	}
}

// TestPermanentErrorsNotRetried: access denied and a missing bucket fail
// at once, with one request, and say so.
func TestPermanentErrorsNotRetried(t *testing.T) {
	f := newFaulty(t)
	f.proxy.SetRule(func(*http.Request, int) miniotest.Fault { return miniotest.Status403 })
	err := f.store.Put(context.Background(), "obj", strings.NewReader("x"), 1, remote.PutOptions{})
	if !errors.Is(err, remote.ErrAccessDenied) || !remote.IsPermanent(err) {
		t.Errorf("got %v, want a permanent ErrAccessDenied", err)
	}
	if n := f.proxy.Requests(); n != 1 || f.retries.Load() != 0 {
		t.Errorf("%d requests, %d retries; want 1 and 0", n, f.retries.Load())
	}
	if !strings.Contains(err.Error(), "access denied (check AWS credentials / AWS_PROFILE): AccessDenied") {
		t.Errorf("message: %v", err)
	}

	srv := miniotest.Start(t)
	proxy := miniotest.NewFaultProxy(t, srv.Endpoint)
	opts := srv.Options()
	opts.Endpoint = proxy.URL
	var retries atomic.Int32
	s := retry.New(srv.StoreWith(t, "no-such-bucket", "p", opts), retry.Options{OnRetry: func(retry.Event) { retries.Add(1) }})
	err = s.Put(context.Background(), "obj", strings.NewReader("x"), 1, remote.PutOptions{})
	if !errors.Is(err, remote.ErrNoBucket) || proxy.Requests() != 1 || retries.Load() != 0 {
		t.Errorf("got %v after %d requests and %d retries", err, proxy.Requests(), retries.Load())
	}
}

// TestNoSDKRetries: the SDK makes one attempt; retrying is the wrapper's.
func TestNoSDKRetries(t *testing.T) {
	f := newFaulty(t)
	f.proxy.SetRule(func(*http.Request, int) miniotest.Fault { return miniotest.Status503 })
	err := f.raw.Put(context.Background(), "obj", strings.NewReader("x"), 1, remote.PutOptions{})
	if err == nil || remote.IsPermanent(err) {
		t.Errorf("503: got %v, want a transient error", err)
	}
	if f.proxy.Requests() != 1 {
		t.Errorf("%d requests for one put, want 1", f.proxy.Requests())
	}
}

// TestRequestsCarryChecksums: puts send a CRC32C of the body and sign
// UNSIGNED-PAYLOAD instead of hashing the body with SHA-256.
func TestRequestsCarryChecksums(t *testing.T) {
	f := newFaulty(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	f.proxy.SetRule(func(r *http.Request, _ int) miniotest.Fault {
		if isPut(r) {
			mu.Lock()
			seen["crc32c="+fmt.Sprint(r.Header.Get("X-Amz-Checksum-Crc32c") != "")] = true
			seen["sha="+r.Header.Get("X-Amz-Content-Sha256")] = true
			mu.Unlock()
		}
		return miniotest.Pass
	})
	for _, size := range []int64{1000, 20 << 20} {
		if err := f.raw.Put(context.Background(), "obj", storetest.NewGen(1, size), size, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if !seen["crc32c=true"] || seen["crc32c=false"] || len(seen) != 2 || !seen["sha=UNSIGNED-PAYLOAD"] {
		t.Errorf("put headers: %v", seen)
	}

	// A body corrupted in flight is refused by the server and retried,
	// never stored.
	for _, size := range []int64{1000, 20 << 20} {
		f.retries.Store(0)
		f.proxy.SetRule(failFirst(1, miniotest.CorruptRequest, isPut))
		g := storetest.NewGen(2, size)
		err := f.raw.Put(context.Background(), "bad", g, size, remote.PutOptions{})
		if size < 16<<20 {
			// Single put: the error reaches the caller, as transient.
			if err == nil || remote.IsPermanent(err) {
				t.Fatalf("corrupted single put: got %v, want a transient error", err)
			}
			t.Log(err)
			if _, err := f.direct.Stat(context.Background(), "bad"); !errors.Is(err, remote.ErrNotFound) {
				t.Errorf("corrupted object stored: %v", err)
			}
			err = f.store.Put(context.Background(), "bad", g, size, remote.PutOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if sum(t, f.direct, "bad") != g.Sum() {
			t.Errorf("%d bytes: stored object differs", size)
		}
	}
}

// TestGetVerifiesChecksum: a whole-object read of an object put in one
// request is checked against its stored CRC32C, so a body corrupted on the
// way is an error, not data. (Ranged reads and multipart objects cannot be
// checked this way; syncfs's manifests carry their own checksums.)
func TestGetVerifiesChecksum(t *testing.T) {
	f := newFaulty(t)
	g := storetest.NewGen(11, 1<<20)
	f.direct.Put(context.Background(), "obj", g, 1<<20, remote.PutOptions{})
	f.proxy.SetRule(failFirst(1, miniotest.CorruptResponse, isGet))
	rc, err := f.raw.Get(context.Background(), "obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if err == nil || remote.IsPermanent(err) {
		t.Fatalf("corrupted read: got %v, want a transient error", err)
	}
	t.Log(err)
	if sum(t, f.store, "obj") != g.Sum() {
		t.Error("clean read differs")
	}
}
