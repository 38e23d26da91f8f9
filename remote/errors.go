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

// Error is a failed store operation, worded for a person: one line that
// names the store and, when the failure concerns one object, the operation
// and key. errors.Is and errors.As see through it to both the class (one of
// the Err* values above, or ErrNotFound...) and the underlying cause, so
// that the message can be short while classification keeps working.
type Error struct {
	Store string // the store, as its String method names it
	Op    string // "put", "get", ...; empty for a failure of the store as a whole
	Key   string // the key or list prefix, if Op is set
	Class error  // a class or sentinel this error matches; may be nil
	Msg   string // what went wrong, without the store, op or key
	Err   error  // the underlying cause; may be nil
}

func (e *Error) Error() string {
	s := "remote " + e.Store + ": "
	if e.Op != "" {
		s += e.Op + " " + e.Key + ": "
	}
	return s + e.Msg
}

// Unwrap returns the class and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Class != nil {
		errs = append(errs, e.Class)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// ErrBadURL is wrapped by errors for a remote URL or endpoint that cannot
// be used as given (unknown scheme, relative path, missing bucket): a usage
// error, not a failure of the store.
var ErrBadURL = errors.New("bad remote URL")
