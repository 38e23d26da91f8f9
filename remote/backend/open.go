package backend

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/file"
	"github.com/syncfs/syncfs/remote/s3"
)

// Error classes Open and Check wrap; test with errors.Is.
var (
	ErrBadURL       = remote.ErrBadURL       // the URL or endpoint is malformed: a usage error
	ErrNoBucket     = remote.ErrNoBucket     // bucket (s3) or directory (file) missing
	ErrAccessDenied = remote.ErrAccessDenied // credentials or permissions
	ErrUnreachable  = remote.ErrUnreachable  // no answer from the endpoint
	ErrTLSBundle    = remote.ErrTLSBundle    // AWS_CA_BUNDLE unreadable, or certificate not trusted
	ErrProbe        = errProbe               // the store answered but misbehaved
)

// Options configures Open. The CLI sets S3Endpoint from --s3-endpoint and
// nothing else; the rest is for tests and benchmarks.
type Options struct {
	// S3Endpoint overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
	S3Endpoint string
	// S3 holds the s3 backend's other options (a transport or credentials
	// for tests, part size, concurrency). Its Endpoint field is ignored:
	// S3Endpoint wins.
	S3 s3.Options
}

// Open returns the store a URL names: file:///abs/path or
// s3://bucket/prefix. It sends no request; Check does.
func Open(ctx context.Context, rawURL string, opts Options) (remote.Store, error) {
	u, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		return file.New(u.Path)
	default: // "s3"
		o := opts.S3
		o.Endpoint = opts.S3Endpoint
		return s3.New(ctx, u.Bucket, u.Prefix, o)
	}
}

// URL is a parsed remote URL.
type URL struct {
	Scheme string // "file" or "s3"
	Path   string // file: the absolute directory
	Bucket string // s3
	Prefix string // s3: "" or a valid key, no leading or trailing '/'
}

// Parse checks a remote URL. Its errors wrap ErrBadURL and never repeat
// credentials that were (wrongly) put in the URL.
func Parse(rawURL string) (URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return URL{}, badURL(rawURL, "not a URL (want file:///abs/path or s3://bucket/prefix)")
	}
	shown := rawURL
	if u.User != nil {
		shown = u.Redacted()
	}
	switch u.Scheme {
	case "":
		if strings.HasPrefix(rawURL, "/") {
			return URL{}, badURL(shown, "not a URL; for a directory write file://"+rawURL)
		}
		return URL{}, badURL(shown, "not a URL (want file:///abs/path or s3://bucket/prefix)")
	case "file":
		switch {
		case u.Opaque != "" || (u.Host != "" && u.Host != "localhost"):
			return URL{}, badURL(shown, "a file URL needs an absolute path: file:///abs/path (three slashes)")
		case !strings.HasPrefix(u.Path, "/"):
			return URL{}, badURL(shown, "a file URL needs an absolute path: file:///abs/path")
		case u.RawQuery != "" || u.Fragment != "":
			return URL{}, badURL(shown, "unexpected ?query or #fragment")
		}
		return URL{Scheme: "file", Path: u.Path}, nil
	case "s3":
		switch {
		case u.User != nil:
			return URL{}, badURL(shown, "credentials do not belong in the URL (use the AWS credential chain: AWS_PROFILE, environment, instance role)")
		case u.Host == "":
			return URL{}, badURL(shown, "missing bucket name (want s3://bucket/prefix)")
		case !validBucket(u.Host):
			return URL{}, badURL(shown, "bucket name "+strconv.Quote(u.Host)+" is not valid")
		case u.RawQuery != "" || u.Fragment != "":
			return URL{}, badURL(shown, "unexpected ?query or #fragment")
		}
		prefix := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
		if prefix != "" {
			if err := remote.ValidKey(prefix); err != nil {
				return URL{}, badURL(shown, "bad prefix: "+err.Error())
			}
		}
		return URL{Scheme: "s3", Bucket: u.Host, Prefix: prefix}, nil
	}
	return URL{}, badURL(shown, fmt.Sprintf("unknown URL scheme %q (want file:///abs/path or s3://bucket/prefix)", u.Scheme))
}

func badURL(shown, msg string) error {
	return &remote.Error{Store: strconv.Quote(shown), Class: ErrBadURL, Msg: msg}
}

// validBucket accepts the names S3 allows (3-63 of a-z 0-9 . -) plus the
// upper case and underscores some Ceph and MinIO setups still have.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 255 {
		return false
	}
	for _, r := range b {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
