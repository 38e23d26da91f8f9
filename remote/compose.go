package remote

import (
	"context"
	"errors"
	"io"
)

// Composer is a Store that builds an object from ranges of objects it
// already holds and new bytes, sending only the new bytes: S3 does it with
// a multipart upload of UploadPartCopy and UploadPart parts, a directory
// with copy_file_range. Publishing plain copies of changed files uses it
// (see package publish), so that a small rewrite of a large file does not
// send the whole file again.
type Composer interface {
	// Compose stores at key the concatenation of parts, atomically like
	// Put, with meta as the object's user metadata, and returns the new
	// object's ETag. A part with From set copies a range of an existing
	// object, which must still carry FromETag (when set), or Compose fails
	// with an error wrapping ErrSourceChanged. Every part but the last must
	// be at least MinPart bytes.
	Compose(ctx context.Context, key string, parts []Part, meta map[string]string) (etag string, err error)

	// AbortCompositions frees what interrupted compositions of keys under
	// prefix left behind (on S3: incomplete multipart uploads, which are
	// invisible but billed) and returns how many it found.
	AbortCompositions(ctx context.Context, prefix string) (int, error)
}

// Part is one piece of a composed object: Size new bytes read from Body
// (re-readable after Seek(0, io.SeekStart)), or Size bytes of the object
// From starting at FromOff.
type Part struct {
	Body     io.ReadSeeker
	Size     int64
	From     string
	FromOff  int64
	FromETag string
}

// MinPart is the smallest size of a part other than the last (S3's limit).
const MinPart = 5 << 20

// MaxParts is the most parts one object may have (S3's limit).
const MaxParts = 10000

// ErrSourceChanged: a part's source object is no longer the one the caller
// described (another ETag, or gone).
var ErrSourceChanged = errors.New("source object changed")

// ErrCopyUnsupported: the store cannot copy a part of an object into
// another (an S3-compatible server without UploadPartCopy). The caller
// sends the bytes instead.
var ErrCopyUnsupported = errors.New("the store cannot copy parts of objects (no UploadPartCopy)")

// PartSizer is a Composer whose parts may be smaller than MinPart (a
// directory: copy_file_range has no minimum). Finer parts make a
// scattered change cost less.
type PartSizer interface {
	MinPartSize() int64
}
