package backend_test

import (
	"context"
	"errors"
	"testing"

	"github.com/syncfs/syncfs/remote/backend"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		url  string
		want backend.URL
	}{
		{"file:///srv/remote", backend.URL{Scheme: "file", Path: "/srv/remote"}},
		{"file://localhost/srv/remote", backend.URL{Scheme: "file", Path: "/srv/remote"}},
		{"file:///with%20space", backend.URL{Scheme: "file", Path: "/with space"}},
		{"s3://bucket", backend.URL{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/", backend.URL{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/job/42/", backend.URL{Scheme: "s3", Bucket: "bucket", Prefix: "job/42"}},
		{"s3://my.bucket-1/p", backend.URL{Scheme: "s3", Bucket: "my.bucket-1", Prefix: "p"}},
	} {
		got, err := backend.Parse(c.url)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.url, got, err, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ url, msg string }{
		{"ftp://host/x", `remote "ftp://host/x": unknown URL scheme "ftp" (want file:///abs/path or s3://bucket/prefix)`},
		{"/abs/dir", `remote "/abs/dir": not a URL; for a directory write file:///abs/dir`},
		{"relative/dir", `remote "relative/dir": not a URL (want file:///abs/path or s3://bucket/prefix)`},
		{"file://relative/dir", `remote "file://relative/dir": a file URL needs an absolute path: file:///abs/path (three slashes)`},
		{"file:relative", `remote "file:relative": a file URL needs an absolute path: file:///abs/path (three slashes)`},
		{"file:///x?y=1", `remote "file:///x?y=1": unexpected ?query or #fragment`},
		{"s3:///prefix", `remote "s3:///prefix": missing bucket name (want s3://bucket/prefix)`},
		{"s3://", `remote "s3://": missing bucket name (want s3://bucket/prefix)`},
		{"s3://b:9000/p", `remote "s3://b:9000/p": bucket name "b:9000" is not valid`},
		{"s3://bucket/a/../b", `remote "s3://bucket/a/../b": bad prefix: invalid object key "a/../b": contains a . or .. component`},
		{"s3://bucket//p", `remote "s3://bucket//p": bad prefix: invalid object key "/p": empty path component`},
		{"s3://AKIAEXAMPLE:s3cr3t@bucket/p", `remote "s3://AKIAEXAMPLE:xxxxx@bucket/p": credentials do not belong in the URL (use the AWS credential chain: AWS_PROFILE, environment, instance role)`},
		{"http://bucket/p", `remote "http://bucket/p": unknown URL scheme "http" (want file:///abs/path or s3://bucket/prefix)`},
	} {
		_, err := backend.Open(context.Background(), c.url, backend.Options{})
		if !errors.Is(err, backend.ErrBadURL) {
			t.Errorf("Open(%q): got %v, want ErrBadURL", c.url, err)
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("Open(%q):\n got %s\nwant %s", c.url, err, c.msg)
		}
	}
}
