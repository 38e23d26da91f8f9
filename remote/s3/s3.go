package s3

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/syncfs/syncfs/remote"
)

var _ remote.Store = (*Store)(nil)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Endpoint overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, e.g.
	// "http://127.0.0.1:9000" (the CLI's --s3-endpoint).
	Endpoint string
	// Region overrides the configured region (default us-east-1).
	Region string

	// Transport replaces the HTTP transport of S3 requests (tests inject
	// faults with it). TLS settings, including AWS_CA_BUNDLE, are then the
	// transport's business.
	Transport http.RoundTripper
	// Credentials replaces the AWS credential chain. For tests only: the
	// CLI never sets it, so credentials cannot come from argv.
	Credentials aws.CredentialsProvider

	// PartSize is the size of multipart upload parts; default 8 MiB. It is
	// raised for objects that would need more than 10,000 parts.
	PartSize int64
	// MultipartThreshold: larger objects are uploaded in parts; default
	// 2*PartSize.
	MultipartThreshold int64
	// Concurrency is the number of parts of one object in flight; default 4.
	Concurrency int
	// MaxBufferedParts bounds the part buffers of the whole Store (bodies
	// that are not io.ReaderAt need them); default 2*Concurrency.
	MaxBufferedParts int
	// StallTimeout cancels a request that makes no progress for this long;
	// default 60s.
	StallTimeout time.Duration
	// SignPayload signs a SHA-256 of each body instead of UNSIGNED-PAYLOAD
	// (for servers that refuse unsigned payloads; costs a hash pass).
	SignPayload bool
}

const (
	defaultPartSize     = 8 << 20
	defaultConcurrency  = 4
	defaultStallTimeout = 60 * time.Second
	maxParts            = 10000
)

func (o *Options) setDefaults() {
	if o.PartSize <= 0 {
		o.PartSize = defaultPartSize
	}
	if o.MultipartThreshold <= 0 {
		o.MultipartThreshold = 2 * o.PartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.MaxBufferedParts <= 0 {
		o.MaxBufferedParts = 2 * o.Concurrency
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = defaultStallTimeout
	}
}

// Store is a bucket prefix.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	name     string // s3://bucket/prefix
	endpoint string // for messages
	opts     Options
	bufs     bufLimit
	callOpts []func(*s3.Options)

	noPrecheck bool // tests: skip the HEAD before a conditional multipart put
}

// New returns the store for bucket and prefix (without leading or trailing
// '/'; "" for the whole bucket). It loads the AWS configuration but sends
// no request: backend.Check probes the bucket.
func New(ctx context.Context, bucket, prefix string, opts Options) (*Store, error) {
	opts.setDefaults()
	s := &Store{bucket: bucket, opts: opts}
	s.name = (&url.URL{Scheme: "s3", Host: bucket, Path: "/" + prefix}).String()
	s.name = strings.TrimSuffix(s.name, "/")
	if bucket == "" {
		return nil, &remote.Error{Store: s.name, Class: remote.ErrBadURL, Msg: "missing bucket name (want s3://bucket/prefix)"}
	}
	if prefix != "" {
		if err := remote.ValidKey(prefix); err != nil {
			return nil, &remote.Error{Store: s.name, Class: remote.ErrBadURL, Msg: "bad prefix: " + err.Error(), Err: err}
		}
		s.prefix = prefix + "/"
	}
	client, endpoint, err := newClient(ctx, s.name, opts)
	if err != nil {
		return nil, err
	}
	s.client, s.endpoint = client, endpoint
	s.bufs = newBufLimit(opts.MaxBufferedParts)
	if !opts.SignPayload {
		s.callOpts = append(s.callOpts, unsignedPayload)
	}
	return s, nil
}

// String returns the s3:// URL of the store.
func (s *Store) String() string { return s.name }

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Endpoint returns the endpoint requests go to, for messages.
func (s *Store) Endpoint() string { return s.endpoint }

func (s *Store) key(k string) *string { return aws.String(s.prefix + k) }

// validKey is remote.ValidKey plus S3's limit on the full key, which
// includes the store's prefix.
func (s *Store) validKey(key string) error {
	if err := remote.ValidKey(key); err != nil {
		return err
	}
	if len(s.prefix)+len(key) > remote.MaxKeyLen {
		return fmt.Errorf("%w %q: longer than %d bytes with the store's prefix %q", remote.ErrInvalidKey, key, remote.MaxKeyLen, s.prefix)
	}
	return nil
}

func (s *Store) errorf(op, key string, format string, args ...any) error {
	return &remote.Error{Store: s.name, Op: op, Key: key, Msg: fmt.Sprintf(format, args...)}
}
