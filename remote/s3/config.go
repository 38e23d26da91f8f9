package s3

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/syncfs/syncfs/remote"
)

const defaultRegion = "us-east-1"

// newClient builds the S3 client and returns it with the endpoint it talks
// to (for messages).
func newClient(ctx context.Context, name string, o Options) (*s3.Client, string, error) {
	endpoint, err := resolveEndpoint(o.Endpoint)
	if err != nil {
		return nil, "", &remote.Error{Store: name, Class: remote.ErrBadURL, Msg: err.Error()}
	}
	usesTLS := endpoint == "" || strings.HasPrefix(endpoint, "https://")

	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			// Parts of several objects go in parallel; keep their
			// connections. Timeouts on stalled requests are ours (see
			// watch), not a fixed deadline that a large part would hit.
			tr.MaxIdleConnsPerHost = 64
			tr.ResponseHeaderTimeout = 0
		})
	loadOpts := []func(*config.LoadOptions) error{
		config.WithLogger(logging.Nop{}),
		config.WithHTTPClient(httpClient),
		// One attempt per SDK call: remote/retry decides about retries.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if o.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(o.Credentials))
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}

	// AWS_CA_BUNDLE is read here rather than by the SDK, so that an
	// unreadable one gives one clear line, and so that it cannot break a
	// plain-http endpoint. The SDK reads the variable itself unless given a
	// bundle, so it is always given one.
	pem, bundleErr := caBundle()
	switch {
	case bundleErr != nil && usesTLS:
		return nil, "", &remote.Error{Store: name, Class: remote.ErrTLSBundle, Msg: bundleErr.Error(), Err: bundleErr}
	case bundleErr != nil:
		// http endpoint: S3 requests use no TLS. Requests the credential
		// chain may make (STS, SSO) get the system roots.
		if sys := systemBundle(); sys != nil {
			loadOpts = append(loadOpts, config.WithCustomCABundle(bytes.NewReader(sys)))
		} else {
			return nil, "", &remote.Error{Store: name, Class: remote.ErrTLSBundle, Msg: bundleErr.Error(), Err: bundleErr}
		}
	case pem != nil:
		loadOpts = append(loadOpts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}

	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, "", &remote.Error{Store: name, Class: remote.ErrAccessDenied,
			Msg: "loading AWS configuration (check AWS_PROFILE and ~/.aws/config): " + err.Error(), Err: err}
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // endpoint_url in the shared config
	}

	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if endpoint != "" {
			so.BaseEndpoint = aws.String(endpoint)
			so.UsePathStyle = true
		}
		if o.Transport != nil {
			so.HTTPClient = &http.Client{Transport: o.Transport}
		}
		so.Retryer = aws.NopRetryer{}
		// Checksums: requests carry the CRC32C we compute (put.go); full
		// reads ask for and verify the stored checksum (get.go). Nothing is
		// validated implicitly, so a ranged read never trips over a
		// whole-object checksum.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	if endpoint == "" {
		endpoint = "https://s3." + cfg.Region + ".amazonaws.com"
	}
	return client, endpoint, nil
}

// resolveEndpoint returns the explicit endpoint, else AWS_ENDPOINT_URL_S3,
// else AWS_ENDPOINT_URL, else "" (AWS, or endpoint_url from the shared
// config, which the SDK resolves). It must be an http or https URL of a
// host.
func resolveEndpoint(explicit string) (string, error) {
	src, ep := "--s3-endpoint", explicit
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if ep != "" {
			break
		}
		src, ep = env, os.Getenv(env)
	}
	if ep == "" {
		return "", nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return "", &endpointError{src, ep}
	}
	return u.Scheme + "://" + u.Host, nil
}

type endpointError struct{ src, ep string }

func (e *endpointError) Error() string {
	return "endpoint " + e.src + "=" + e.ep + " is not a URL like http://host:port or https://host"
}

// caBundle reads the PEM bundle AWS_CA_BUNDLE names; nil if it is unset.
func caBundle() ([]byte, error) {
	path := os.Getenv("AWS_CA_BUNDLE")
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, &bundleError{path: path, why: "cannot read CA bundle: ", err: err}
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, &bundleError{path: path, why: "no PEM certificate in CA bundle"}
	}
	return pem, nil
}

type bundleError struct {
	path, why string
	err       error
}

func (e *bundleError) Error() string {
	s := "AWS_CA_BUNDLE=" + e.path + ": " + e.why
	if e.err != nil {
		s += e.err.Error()
	}
	return s
}
func (e *bundleError) Unwrap() error { return e.err }

// systemBundle returns the system's PEM roots from the usual Linux places
// (as crypto/x509 finds them), or nil.
func systemBundle() []byte {
	files := []string{
		os.Getenv("SSL_CERT_FILE"),
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem",
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && x509.NewCertPool().AppendCertsFromPEM(b) {
			return b
		}
	}
	return nil
}

// unsignedPayload signs requests with UNSIGNED-PAYLOAD instead of hashing
// the body with SHA-256 (which the SDK does on plain http). The body is
// still covered by the CRC32C header, which is signed.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(st)
	})
}
