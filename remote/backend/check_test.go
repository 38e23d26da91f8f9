package backend_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/backend"
	"github.com/syncfs/syncfs/remote/s3"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// openCheck does what the CLI does before mounting.
func openCheck(t *testing.T, url string, opts backend.Options) error {
	t.Helper()
	s, err := backend.Open(context.Background(), url, opts)
	if err != nil {
		return err
	}
	return backend.Check(context.Background(), s)
}

func s3Opts(srv *miniotest.Server) backend.Options {
	o := srv.Options()
	return backend.Options{S3Endpoint: srv.Endpoint, S3: s3.Options{Credentials: o.Credentials}}
}

func wantErr(t *testing.T, err, class error, msg string) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("got %v, want an error matching %v", err, class)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("message is not one line: %q", err)
	}
	if strings.HasSuffix(msg, "...") {
		if !strings.HasPrefix(err.Error(), strings.TrimSuffix(msg, "...")) {
			t.Errorf("message:\n got %s\nwant %s", err, msg)
		}
	} else if err.Error() != msg {
		t.Errorf("message:\n got %s\nwant %s", err, msg)
	}
	t.Log(err)
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	if err := openCheck(t, "file://"+dir, backend.Options{}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("check left %v behind", ents)
	}
	missing := filepath.Join(dir, "missing")
	wantErr(t, openCheck(t, "file://"+missing, backend.Options{}), backend.ErrNoBucket,
		"remote file://"+missing+": directory "+missing+" does not exist (create it or fix the URL)")
}

func TestCheckS3(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	if err := openCheck(t, "s3://"+bucket+"/job/1", s3Opts(srv)); err != nil {
		t.Fatal(err)
	}
	var left []string
	srv.Store(t, bucket, "").List(context.Background(), "", func(oi remote.ObjectInfo) error {
		left = append(left, oi.Key)
		return nil
	})
	if len(left) != 0 {
		t.Errorf("check left %q behind", left)
	}
}

// TestCheckS3CredentialChain: with no programmatic credentials the
// standard chain reads them from the environment.
func TestCheckS3CredentialChain(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if err := openCheck(t, "s3://"+bucket+"/p", backend.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "syncfs-no-such-profile")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "config"))
	wantErr(t, openCheck(t, "s3://"+bucket+"/p", backend.Options{}), backend.ErrAccessDenied,
		"remote s3://"+bucket+"/p: loading AWS configuration (check AWS_PROFILE and ~/.aws/config): ...")
}

func TestCheckNoSuchBucket(t *testing.T) {
	srv := miniotest.Start(t)
	wantErr(t, openCheck(t, "s3://no-such-bucket/p", s3Opts(srv)), backend.ErrNoBucket,
		`remote s3://no-such-bucket/p: bucket "no-such-bucket" does not exist (create it or fix the URL)`)
}

func TestCheckAccessDenied(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	for _, creds := range [][2]string{
		{"no-such-key-id", "whatever-secret"},              // unknown key
		{miniotest.AccessKey, "wrong-secret-for-this-key"}, // bad signature
	} {
		opts := s3Opts(srv)
		opts.S3.Credentials = credentials.NewStaticCredentialsProvider(creds[0], creds[1], "")
		err := openCheck(t, "s3://"+bucket+"/p", opts)
		wantErr(t, err, backend.ErrAccessDenied, "remote s3://"+bucket+"/p: access denied (check AWS credentials / AWS_PROFILE): ...")
		if strings.Contains(err.Error(), creds[1]) {
			t.Errorf("error shows the secret: %s", err)
		}
	}
}

func TestCheckUnreachable(t *testing.T) {
	opts := backend.Options{S3Endpoint: "http://127.0.0.1:1",
		S3: s3.Options{Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}}
	wantErr(t, openCheck(t, "s3://bkt/p", opts), backend.ErrUnreachable,
		"remote s3://bkt/p: endpoint http://127.0.0.1:1 unreachable: connection refused")
}

func TestCheckBadEndpoint(t *testing.T) {
	wantErr(t, openCheck(t, "s3://bkt/p", backend.Options{S3Endpoint: "127.0.0.1:9000"}), backend.ErrBadURL,
		"remote s3://bkt/p: endpoint --s3-endpoint=127.0.0.1:9000 is not a URL like http://host:port or https://host")
	t.Setenv("AWS_ENDPOINT_URL", "ftp://x")
	wantErr(t, openCheck(t, "s3://bkt/p", backend.Options{}), backend.ErrBadURL,
		"remote s3://bkt/p: endpoint AWS_ENDPOINT_URL=ftp://x is not a URL like http://host:port or https://host")
}

// TestCheckCABundle covers AWS_CA_BUNDLE: unreadable or empty with an https
// endpoint, ignored for a plain-http one, honoured when it holds the
// server's certificate, and a server certificate it does not trust.
func TestCheckCABundle(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	url := "s3://" + bucket + "/p"
	tlsProxy := miniotest.NewTLSProxy(t, srv.Endpoint)
	httpsOpts := s3Opts(srv)
	httpsOpts.S3Endpoint = tlsProxy.URL

	t.Run("unreadable+https", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
		wantErr(t, openCheck(t, url, httpsOpts), backend.ErrTLSBundle,
			"remote "+url+": AWS_CA_BUNDLE=/nonexistent/ca.pem: cannot read CA bundle: open /nonexistent/ca.pem: no such file or directory")
	})
	t.Run("not-pem+https", func(t *testing.T) {
		junk := filepath.Join(t.TempDir(), "junk.pem")
		os.WriteFile(junk, []byte("not a certificate\n"), 0o644)
		t.Setenv("AWS_CA_BUNDLE", junk)
		wantErr(t, openCheck(t, url, httpsOpts), backend.ErrTLSBundle,
			"remote "+url+": AWS_CA_BUNDLE="+junk+": no PEM certificate in CA bundle")
	})
	t.Run("unreadable+http", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
		if err := openCheck(t, url, s3Opts(srv)); err != nil {
			t.Fatalf("plain-http endpoint broken by an unreadable AWS_CA_BUNDLE: %v", err)
		}
	})
	t.Run("trusted", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", tlsProxy.CAFile(t))
		if err := openCheck(t, url, httpsOpts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", "")
		wantErr(t, openCheck(t, url, httpsOpts), backend.ErrTLSBundle,
			"remote "+url+": endpoint "+tlsProxy.URL+": TLS certificate not trusted: ...")
	})
}
