package s3_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/s3"
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

// TestConditionalMultipartAtCompletion: the server refuses to complete a
// conditional multipart upload over an object created meanwhile, and the
// object is left as it was.
func TestConditionalMultipartAtCompletion(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.StoreWith(t, srv.NewBucket(t), "p", srv.Options())
	s3.SkipPrecheck(st)
	const size = 20 << 20
	first := storetest.NewGenAt(1, size)
	ctx := context.Background()
	if err := st.Put(ctx, "obj", first, size, remote.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	err := st.Put(ctx, "obj", storetest.NewGenAt(2, size), size, remote.PutOptions{IfAbsent: true})
	if !errors.Is(err, remote.ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	rc, err := st.Get(ctx, "obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	io.Copy(h, rc)
	if [32]byte(h.Sum(nil)) != first.Sum() {
		t.Error("the refused upload replaced the object")
	}
	// No upload is left pending: the refused one was aborted.
	out, err := awsClient(srv).ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket())})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left pending", len(out.Uploads))
	}
}

func awsClient(srv *miniotest.Server) *awss3.Client {
	o := srv.Options()
	return awss3.New(awss3.Options{BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true, Region: o.Region, Credentials: o.Credentials})
}
