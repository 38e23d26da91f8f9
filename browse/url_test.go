package browse_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/browsetest"
	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/remote/file"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

func TestOpenURLFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "jobs", "42")
	os.MkdirAll(root, 0o755)
	store, _ := file.New(root)
	w := browsetest.New(t, store)
	w.WriteFile("results/run 1.odb", []byte("odb"), 0o644)
	ctx := context.Background()
	for _, c := range []struct{ url, rel string }{
		{"file://" + root, ""},
		{"file://" + root + "/", ""},
		{"file://" + root + "/results", "results"},
		{"file://" + root + "/results/run%201.odb", "results/run 1.odb"},
		{"file://" + root + "/results/../results/./x", "results/x"},
	} {
		tr, rel, err := browse.OpenURL(ctx, c.url, backend.Options{}, browse.Options{})
		if err != nil || rel != c.rel {
			t.Errorf("OpenURL(%s) = %q, %v; want %q", c.url, rel, err, c.rel)
			continue
		}
		if tr.Root().Journal != w.Journal {
			t.Errorf("OpenURL(%s): wrong tree", c.url)
		}
	}
	if _, _, err := browse.OpenURL(ctx, "file://"+dir, backend.Options{}, browse.Options{}); !errors.Is(err, browse.ErrNoTree) {
		t.Errorf("above the tree: %v, want ErrNoTree", err)
	}
	if _, _, err := browse.OpenURL(ctx, "file://"+dir+"/missing/x", backend.Options{}, browse.Options{}); !errors.Is(err, browse.ErrNoTree) {
		t.Errorf("missing dir: %v", err)
	}
	for _, bad := range []string{"ftp://x/y", "/abs/path", "file://relative"} {
		if _, _, err := browse.OpenURL(ctx, bad, backend.Options{}, browse.Options{}); !errors.Is(err, backend.ErrBadURL) {
			t.Errorf("OpenURL(%s): %v, want ErrBadURL", bad, err)
		}
	}
}

func TestOpenURLS3(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	w := browsetest.New(t, srv.Store(t, bucket, "jobs/42"))
	w.WriteFile("results/a.odb", []byte("odb"), 0o644)
	o := srv.Options()
	bopts := backend.Options{S3Endpoint: srv.Endpoint}
	bopts.S3.Credentials = o.Credentials
	ctx := context.Background()
	for _, c := range []struct{ url, rel string }{
		{miniotest.URL(bucket, "jobs/42"), ""},
		{miniotest.URL(bucket, "jobs/42/results/a.odb"), "results/a.odb"},
		{miniotest.URL(bucket, "jobs/42/results/a\\b"), "results/a\\b"}, // not a valid key, a valid name
	} {
		tr, rel, err := browse.OpenURL(ctx, c.url, bopts, browse.Options{})
		if err != nil || rel != c.rel || tr.Root().Journal != w.Journal {
			t.Errorf("OpenURL(%s) = %q, %v; want %q", c.url, rel, err, c.rel)
		}
	}
	if _, _, err := browse.OpenURL(ctx, miniotest.URL(bucket, "jobs"), bopts, browse.Options{}); !errors.Is(err, browse.ErrNoTree) {
		t.Errorf("above the tree: %v", err)
	}
	if _, _, err := browse.OpenURL(ctx, "s3://no-such-bucket-here/x", bopts, browse.Options{}); !errors.Is(err, backend.ErrNoBucket) {
		t.Errorf("no bucket: %v", err)
	}
	tr, _, err := browse.OpenURL(ctx, miniotest.URL(bucket, "jobs/42"), bopts, browse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, tr, "results/a.odb"); string(got) != "odb" {
		t.Errorf("read %q", got)
	}
}
