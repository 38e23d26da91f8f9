package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/miniotest"
)

// TestRemoteOutage puts a proxy between the daemon and MinIO that fails
// every write for a while: nothing is lost (the journal keeps the
// backlog), flush --wait times out with exit 3 naming what is pending,
// errors show in status, and once the remote is back a flush ships
// everything and verify passes.
func TestRemoteOutage(t *testing.T) {
	m, proxy, env := proxiedMount(t, "outage")
	writeAt(t, m.path("before"), 0, randBytes(1<<20))
	m.flush()

	failWrites(proxy, true)
	writeAt(t, m.path("during"), 0, randBytes(3<<20))
	r := syncfs(t, env, "flush", "--wait", "--timeout", "3s", m.mnt)
	if r.Code != exitcode.Timeout || !strings.Contains(r.Stderr, "pending") {
		t.Fatalf("flush during an outage: %v", r)
	}
	st := status(t, m)
	if st["pending_bytes"].(float64) < 3<<20 {
		t.Fatalf("the backlog is not pending: %v", st)
	}

	failWrites(proxy, false)
	m.flush()
	verifyOK(t, m, m.mnt)
}

// TestRemoteRejectsWrites: a remote that refuses writes for good (403
// after the mount) makes flush --wait fail at once with a clear line and
// exit 1, instead of hanging, and keeps the data in the journal.
func TestRemoteRejectsWrites(t *testing.T) {
	m, proxy, env := proxiedMount(t, "denied")
	proxy.SetRule(func(r *http.Request, n int) miniotest.Fault {
		if r.Method == http.MethodPut {
			return miniotest.Status403
		}
		return miniotest.Pass
	})
	writeAt(t, m.path("f"), 0, randBytes(1<<20))
	r := syncfs(t, env, "flush", "--wait", "--timeout", "2m", m.mnt)
	if r.Code != exitcode.Error || !strings.Contains(r.Stderr, "rejects writes") {
		t.Fatalf("flush against a remote that refuses writes: %v", r)
	}
	oneLine(t, r)
	if st := status(t, m); st["pending_bytes"].(float64) != 1<<20 || st["remote_error"] == nil {
		t.Fatalf("status after the refusal: %v", st)
	}
}
