package miniotest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
)

// No TestMain here: Start gives each test its own server, stopped in
// t.Cleanup.

func TestStartStop(t *testing.T) {
	var endpoint string
	t.Run("server", func(t *testing.T) {
		srv := miniotest.Start(t)
		endpoint = srv.Endpoint
		if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
			t.Errorf("endpoint %s is not on 127.0.0.1", endpoint)
		}
		s := srv.Store(t, srv.NewBucket(t), "p")
		if err := s.Put(context.Background(), "k", strings.NewReader("v"), 1, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		env := strings.Join(srv.Env(), " ")
		for _, k := range []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION="} {
			if !strings.Contains(env, k) {
				t.Errorf("Env() lacks %s", k)
			}
		}
	})
	// The cleanup of the subtest killed and reaped the server.
	resp, err := http.Get(endpoint + "/minio/health/live")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("server still answers after cleanup")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Logf("after cleanup: %v", err)
	}
}
