package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/syncfs/syncfs/internal/backoff"
	"github.com/syncfs/syncfs/remote"
)

var _ remote.Composer = (*Store)(nil)

// Compose builds the object with one PutObject when it is a single new
// part, otherwise with a multipart upload whose copied parts are
// UploadPartCopy requests (the bytes move inside S3) and whose new parts
// are UploadPart requests, Concurrency at a time. The object appears when
// CompleteMultipartUpload succeeds, or not at all; a failed composition is
// aborted (and AbortCompositions frees what a crash left).
func (s *Store) Compose(ctx context.Context, key string, parts []remote.Part, meta map[string]string) (string, error) {
	if err := s.validKey(key); err != nil {
		return "", err
	}
	if len(parts) == 0 || len(parts) > remote.MaxParts {
		return "", remote.Permanent(s.errorf("compose", key, "%d parts (want 1 to %d)", len(parts), remote.MaxParts))
	}
	for i, p := range parts[:len(parts)-1] {
		if p.Size < remote.MinPart {
			return "", remote.Permanent(s.errorf("compose", key, "part %d has %d bytes, under the minimum of %d", i+1, p.Size, remote.MinPart))
		}
	}
	if len(parts) == 1 && parts[0].From == "" {
		return s.putWithMeta(ctx, key, parts[0], meta)
	}
	w := watch(ctx, s.opts.StallTimeout)
	created, err := s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: s.key(key), Metadata: meta,
	})
	w.done()
	if err != nil {
		return "", s.classify(ctx, w, "compose", key, err)
	}
	done, err := s.composeParts(ctx, key, created.UploadId, parts)
	var etag string
	if err == nil {
		w := watch(ctx, 5*s.opts.StallTimeout)
		var out *s3.CompleteMultipartUploadOutput
		out, err = s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &s.bucket, Key: s.key(key), UploadId: created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		})
		w.done()
		err = s.classify(ctx, w, "compose", key, err)
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: s.key(key), UploadId: created.UploadId})
		cancel()
		return "", err
	}
	return etag, nil
}

func (s *Store) putWithMeta(ctx context.Context, key string, p remote.Part, meta map[string]string) (string, error) {
	sum, err := md5sum(p.Body, p.Size)
	if err != nil {
		return "", s.bodyErr(key, err)
	}
	if _, err := p.Body.Seek(0, io.SeekStart); err != nil {
		return "", s.errorf("compose", key, "rewinding body: %v", err)
	}
	w := watch(ctx, s.opts.StallTimeout)
	defer w.done()
	out, err := s.client.PutObject(w.ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: s.key(key), Metadata: meta,
		Body: &watchedBody{r: section(p.Body, p.Size), w: w}, ContentLength: aws.Int64(p.Size), ContentMD5: aws.String(sum),
	}, s.callOpts...)
	if err != nil {
		return "", s.classify(ctx, w, "compose", key, err)
	}
	return aws.ToString(out.ETag), nil
}

func (s *Store) composeParts(ctx context.Context, key string, uploadID *string, parts []remote.Part) ([]types.CompletedPart, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, s.opts.Concurrency)
		done  = make([]types.CompletedPart, len(parts))
		once  sync.Once
		first error
	)
	for i, p := range parts {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			num := int32(i + 1)
			var part types.CompletedPart
			var err error
			for attempt := 1; ; attempt++ {
				if p.From != "" {
					part, err = s.copyPart(ctx, key, uploadID, num, p)
				} else {
					part, err = s.plainPart(ctx, key, uploadID, num, p)
				}
				if err == nil || remote.IsPermanent(err) || errors.Is(err, remote.ErrSourceChanged) ||
					errors.Is(err, remote.ErrCopyUnsupported) || attempt == partAttempts {
					break
				}
				if backoff.Sleep(ctx, backoff.Jitter(attempt+1, 100*time.Millisecond, 10*time.Second)) != nil {
					break
				}
			}
			if err != nil {
				once.Do(func() { first = fmt.Errorf("%w (part %d)", err, num); cancel(first) })
				return
			}
			done[i] = part
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := context.Cause(ctx); err != nil {
		return nil, s.classify(ctx, nil, "compose", key, err)
	}
	return done, nil
}

// plainPart uploads a part of new bytes (its MD5 checked by S3).
func (s *Store) plainPart(ctx context.Context, key string, uploadID *string, num int32, p remote.Part) (types.CompletedPart, error) {
	sum, err := md5sum(p.Body, p.Size)
	if err != nil {
		return types.CompletedPart{}, s.bodyErr(key, err)
	}
	if _, err := p.Body.Seek(0, io.SeekStart); err != nil {
		return types.CompletedPart{}, s.errorf("compose", key, "rewinding part %d: %v", num, err)
	}
	w := watch(ctx, s.opts.StallTimeout)
	out, err := s.client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket: &s.bucket, Key: s.key(key), UploadId: uploadID, PartNumber: aws.Int32(num),
		Body: &watchedBody{r: section(p.Body, p.Size), w: w}, ContentLength: aws.Int64(p.Size), ContentMD5: aws.String(sum),
	}, s.callOpts...)
	w.done()
	if err != nil {
		return types.CompletedPart{}, s.classify(ctx, w, "compose", key, err)
	}
	return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag}, nil
}

// copyPart has S3 copy a range of an existing object into the part.
func (s *Store) copyPart(ctx context.Context, key string, uploadID *string, num int32, p remote.Part) (types.CompletedPart, error) {
	if err := s.validKey(p.From); err != nil {
		return types.CompletedPart{}, err
	}
	src := s.bucket + "/" + (&url.URL{Path: s.prefix + p.From}).EscapedPath()
	in := &s3.UploadPartCopyInput{
		Bucket: &s.bucket, Key: s.key(key), UploadId: uploadID, PartNumber: aws.Int32(num),
		CopySource:      aws.String(src),
		CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", p.FromOff, p.FromOff+p.Size-1)),
	}
	if p.FromETag != "" {
		in.CopySourceIfMatch = aws.String(p.FromETag)
	}
	w := watch(ctx, s.opts.StallTimeout)
	out, err := s.client.UploadPartCopy(w.ctx, in)
	w.done()
	if err != nil {
		code, status := apiCode(err)
		err = s.classify(ctx, w, "compose", key, err)
		switch {
		case code == "NotImplemented" || status == 501:
			return types.CompletedPart{}, fmt.Errorf("%w: %v", remote.ErrCopyUnsupported, err)
		case code == "PreconditionFailed" || status == 412 || code == "InvalidRange" || status == 416 || errors.Is(err, remote.ErrNotFound):
			return types.CompletedPart{}, fmt.Errorf("%w: %s: %v", remote.ErrSourceChanged, p.From, err)
		}
		return types.CompletedPart{}, err
	}
	if out.CopyPartResult == nil {
		return types.CompletedPart{}, s.errorf("compose", key, "UploadPartCopy of part %d returned no ETag", num)
	}
	return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag}, nil
}

// AbortCompositions aborts every incomplete multipart upload under prefix.
func (s *Store) AbortCompositions(ctx context.Context, prefix string) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	for {
		w := watch(ctx, s.opts.StallTimeout)
		out, err := s.client.ListMultipartUploads(w.ctx, in)
		w.done()
		if err != nil {
			return n, s.classify(ctx, w, "list uploads", prefix, err)
		}
		for _, u := range out.Uploads {
			w := watch(ctx, s.opts.StallTimeout)
			_, err := s.client.AbortMultipartUpload(w.ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId})
			w.done()
			if err != nil && !errors.Is(s.classify(ctx, w, "abort", aws.ToString(u.Key), err), remote.ErrNotFound) {
				return n, s.classify(ctx, w, "abort", aws.ToString(u.Key), err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// apiCode returns the S3 error code and HTTP status of an SDK error.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func md5sum(r io.ReadSeeker, n int64) (string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := md5.New()
	got, err := io.CopyBuffer(h, io.LimitReader(r, n), make([]byte, 64<<10))
	if err == nil && got < n {
		err = fmt.Errorf("body ended after %d of %d bytes", got, n)
	}
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
