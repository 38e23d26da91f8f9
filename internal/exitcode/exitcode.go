// Package exitcode names the exit statuses of the syncfs command, which
// scripts (Slurm prologs and epilogs above all) rely on. docs/cli.md lists
// them; they never change meaning.
package exitcode

import (
	"errors"
	"fmt"
)

const (
	OK         = 0 // done
	Error      = 1 // failed (also: verify found differences)
	Usage      = 2 // bad command line, including a malformed remote URL
	Timeout    = 3 // timed out with data still pending
	Remote     = 4 // the remote is unusable: unreachable, no bucket, access denied, bad TLS bundle
	Mountpoint = 5 // the mountpoint is missing, not empty, busy or already a syncfs mount
	LocalDir   = 6 // the backing, state or cache directory is missing or unwritable
	Busy       = 7 // another syncfs holds the state dir (journal) or the remote prefix (lease)
	Journal    = 8 // the journal in the state dir is damaged: move it aside and mount again
)

// E is an error with the exit status it should end the command with.
type E struct {
	Code int
	Err  error
}

func (e *E) Error() string { return e.Err.Error() }
func (e *E) Unwrap() error { return e.Err }

// New returns an error with exit status code and a message.
func New(code int, format string, args ...any) error {
	return &E{Code: code, Err: fmt.Errorf(format, args...)}
}

// Wrap gives err exit status code; nil stays nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &E{Code: code, Err: err}
}

// Of returns the exit status for err: OK for nil, the code of the
// outermost *E in its chain, Error otherwise.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *E
	if errors.As(err, &e) {
		return e.Code
	}
	return Error
}
