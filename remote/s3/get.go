package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/syncfs/syncfs/remote"
)

// Get issues a GET, ranged unless the whole object is wanted. A whole-object
// read asks for the stored checksum and the SDK verifies it as the body
// streams (objects put in one request carry a CRC32C; multipart ones a
// checksum of checksums, which cannot be checked this way and is skipped).
func (s *Store) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := s.validKey(key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, remote.Permanent(s.errorf("get", key, "negative offset %d", off))
	}
	if err := ctx.Err(); err != nil {
		return nil, s.classify(ctx, nil, "get", key, err)
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes; the object must still exist.
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(key)}
	switch {
	case off == 0 && length < 0:
		in.ChecksumMode = types.ChecksumModeEnabled
	case length < 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	default:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	}
	w := watch(ctx, s.opts.StallTimeout)
	out, err := s.client.GetObject(w.ctx, in)
	if err != nil {
		w.done()
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 416 {
			// The range starts at or past the end: no bytes. (A missing
			// object gives 404, not 416.)
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.classify(ctx, w, "get", key, err)
	}
	w.pause() // from now on only time spent waiting in Read counts
	return &getReader{s: s, key: key, ctx: ctx, w: w, body: out.Body}, nil
}

type getReader struct {
	s    *Store
	key  string
	ctx  context.Context
	w    *watchdog
	body io.ReadCloser
	err  error
}

func (r *getReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.w.kick()
	n, err := r.body.Read(p)
	r.w.pause()
	if err != nil && err != io.EOF {
		r.err = r.s.classify(r.ctx, r.w, "get", r.key, fmt.Errorf("reading body: %w", err))
		err = r.err
	}
	return n, err
}

func (r *getReader) Close() error {
	r.w.done()
	r.body.Close() // an early close aborts the transfer: nothing to report
	return nil
}

// Stat issues a HEAD. A HEAD response has no body, so a missing bucket
// also reads as remote.ErrNotFound here; backend.Check tells them apart.
func (s *Store) Stat(ctx context.Context, key string) (remote.ObjectInfo, error) {
	if err := s.validKey(key); err != nil {
		return remote.ObjectInfo{}, err
	}
	w := watch(ctx, s.opts.StallTimeout)
	defer w.done()
	out, err := s.client.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	if err != nil {
		return remote.ObjectInfo{}, s.classify(ctx, w, "stat", key, err)
	}
	oi := remote.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength)}
	if out.LastModified != nil {
		oi.ModTime = *out.LastModified
	}
	return oi, nil
}
