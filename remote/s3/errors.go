package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/syncfs/syncfs/remote"
)

// Error codes (S3 and MinIO) that mean the credentials or the policy are
// wrong: retrying cannot help.
var deniedCodes = map[string]bool{
	"AccessDenied":          true,
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"AllAccessDisabled":     true,
	"AccountProblem":        true,
	"InvalidToken":          true,
	"InvalidSecurity":       true,
}

// Codes sent with a 4xx status that are nonetheless worth retrying.
var transientCodes = map[string]bool{
	"RequestTimeout":              true,
	"ExpiredToken":                true, // the credential cache refreshes it
	"BadDigest":                   true, // body corrupted in flight
	"XAmzContentSHA256Mismatch":   true,
	"XAmzContentChecksumMismatch": true, // MinIO's BadDigest for x-amz-checksum-*
	"IncompleteBody":              true,
	"SlowDown":                    true,
	"ConditionalRequestConflict":  true,
	"OperationAborted":            true,
	"TokenRefreshRequired":        true,
}

// classify turns an SDK error from op on key into a remote error: the class
// (not found, exists, no bucket, access denied, unreachable, TLS) for
// errors.Is, Permanent for what retrying cannot fix, and a one-line message.
// ctx is the caller's context, w the request's watchdog (may be nil).
func (s *Store) classify(ctx context.Context, w *watchdog, op, key string, err error) error {
	if err == nil {
		return nil
	}
	e := &remote.Error{Store: s.name, Op: op, Key: key, Err: err}
	if ctx.Err() != nil {
		e.Msg, e.Err = ctx.Err().Error(), ctx.Err() // permanent per remote.IsPermanent
		return e
	}
	if w != nil && w.stalled() {
		// Not wrapping err: it says context.Canceled, which would read as
		// the caller giving up and stop the retry loop.
		e.Msg, e.Err = fmt.Sprintf("no progress for %s, request abandoned", s.opts.StallTimeout), errStalled
		return e
	}

	var ae smithy.APIError
	code, msg := "", ""
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	detail := code
	if msg != "" {
		detail += ": " + msg
	}
	if detail == "" && status != 0 {
		detail = fmt.Sprintf("HTTP %d", status)
	}

	switch {
	case code == "NoSuchBucket":
		return remote.Permanent(s.storeErr(remote.ErrNoBucket, err,
			"bucket %q does not exist (create it or fix the URL)", s.bucket))
	case code == "NoSuchUpload":
		// The multipart upload was aborted or expired under us: starting
		// the put over can succeed.
		e.Msg = detail
		return e
	case code == "NoSuchKey" || status == 404:
		e.Class, e.Msg = remote.ErrNotFound, "object not found"
		return e
	case code == "PreconditionFailed" || status == 412:
		e.Class, e.Msg = remote.ErrExists, "object already exists"
		return e
	case deniedCodes[code] || status == 403:
		return remote.Permanent(s.storeErr(remote.ErrAccessDenied, err,
			"access denied (check AWS credentials / AWS_PROFILE): %s", detail))
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == 301:
		return remote.Permanent(s.storeErr(remote.ErrAccessDenied, err,
			"wrong region for bucket %q (set AWS_REGION): %s", s.bucket, detail))
	case transientCodes[code], status == 408, status == 409, status == 429:
		e.Msg = detail
		return e
	case status == 501 || (status >= 400 && status < 500):
		e.Msg = detail
		return remote.Permanent(e)
	case status >= 500:
		e.Msg = detail
		return e
	}

	// No HTTP response: credentials, TLS or the network.
	var se *v4.SigningError
	if errors.As(err, &se) {
		return remote.Permanent(s.storeErr(remote.ErrAccessDenied, err,
			"no usable AWS credentials (check AWS credentials / AWS_PROFILE): %v", errors.Unwrap(se)))
	}
	if why := tlsTrouble(err); why != "" {
		return remote.Permanent(s.storeErr(remote.ErrTLSBundle, err,
			"endpoint %s: TLS certificate not trusted: %s (point AWS_CA_BUNDLE at your site's CA bundle)", s.endpoint, why))
	}
	if why := dialTrouble(err); why != "" {
		// Transient: a server that is restarting comes back.
		return s.storeErr(remote.ErrUnreachable, err, "endpoint %s unreachable: %s", s.endpoint, why)
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		// A connection that broke after it was made: reset, closed.
		e.Msg = "connection to " + s.endpoint + " lost: " + ne.Op + ": " + errText(ne.Err)
		return e
	}
	e.Msg = err.Error()
	return e
}

// errText is the errno's text if there is one ("connection reset by
// peer"), else the error's.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// storeErr is an error about the store as a whole (no op or key in the
// message: the bucket is missing whatever the key).
func (s *Store) storeErr(class, err error, format string, args ...any) error {
	return &remote.Error{Store: s.name, Class: class, Msg: fmt.Sprintf(format, args...), Err: err}
}

func tlsTrouble(err error) string {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cv):
		return cv.Err.Error()
	case errors.As(err, &ua):
		return ua.Error()
	case errors.As(err, &ci):
		return ci.Error()
	case errors.As(err, &he):
		return he.Error()
	}
	return ""
}

// dialTrouble describes a failure to reach the endpoint at all:
// "connection refused", "cannot resolve host: no such host", "timed out";
// "" for other errors.
func dialTrouble(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve " + dns.Name + ": " + dns.Err
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return ""
	}
	if op.Timeout() {
		return "timed out"
	}
	return errText(op.Err)
}

func isNotFound(err error) bool { return errors.Is(err, remote.ErrNotFound) }
