package s3_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/storetest"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

var prefixSeq atomic.Int64

// TestConformance runs the suite on MinIO, each test in a fresh prefix of
// one bucket (cheaper than a bucket each).
func TestConformance(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	storetest.Run(t, func(t *testing.T) remote.Store {
		return srv.Store(t, bucket, fmt.Sprintf("conf/%d", prefixSeq.Add(1)))
	})
}

// TestConformanceWholeBucket: the same with no prefix.
func TestConformanceWholeBucket(t *testing.T) {
	srv := miniotest.Start(t)
	storetest.Run(t, func(t *testing.T) remote.Store {
		return srv.Store(t, srv.NewBucket(t), "")
	})
}
