package remote

import "errors"

// Error classes for failures that a person has to fix (the bucket is
// missing, the credentials are wrong, the endpoint cannot be reached). The
// backends wrap them into their errors, next to the underlying cause, so
// that a caller can pick an exit code or a message with errors.Is without
// knowing which backend it talks to. A class says nothing about whether
// retrying helps: that is IsPermanent's job.
var (
	// ErrNoBucket: the bucket (s3) or root directory (file) does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrAccessDenied: the credentials are missing, unknown, or not allowed
	// to do the operation (or, for the file backend, permission denied or a
	// read-only file system).
	ErrAccessDenied = errors.New("access denied")
	// ErrUnreachable: no answer from the endpoint (connection refused, no
	// such host, timeout).
	ErrUnreachable = errors.New("endpoint unreachable")
	// ErrTLSBundle: the CA bundle named by AWS_CA_BUNDLE cannot be read or
	// holds no certificate, or the endpoint's certificate is not trusted by
	// the bundle in use. Both are fixed by pointing AWS_CA_BUNDLE at the
	// site's bundle.
	ErrTLSBundle = errors.New("TLS trust problem")
	// ErrKeyConflict: the key cannot be stored next to an existing one,
	// because the backend stores keys as paths and one is a parent directory
	// of the other ("a" and "a/b" in the file backend). The existing object
	// is left as it was.
	ErrKeyConflict = errors.New("key conflicts with an existing key")
)
