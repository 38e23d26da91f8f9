package s3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/syncfs/syncfs/internal/backoff"
	"github.com/syncfs/syncfs/remote"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// partAttempts is how often one part of a multipart upload is tried before
// the whole Put fails (and remote/retry may start it over).
const partAttempts = 3

// Put stores the object in one request or, above MultipartThreshold, as a
// multipart upload; either way it appears atomically when complete.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	if err := s.validKey(key); err != nil {
		return err
	}
	if size < 0 {
		return remote.Permanent(s.errorf("put", key, "negative size %d", size))
	}
	if err := ctx.Err(); err != nil {
		return s.classify(ctx, nil, "put", key, err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return s.errorf("put", key, "rewinding body: %v", err)
	}
	if size <= s.opts.MultipartThreshold {
		return s.putSingle(ctx, key, body, size, opts)
	}
	return s.putMultipart(ctx, key, body, size, opts)
}

func (s *Store) putSingle(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	src := section(body, size)
	sum, err := crc32c(src, size)
	if err != nil {
		return s.bodyErr(key, err)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return s.errorf("put", key, "rewinding body: %v", err)
	}
	w := watch(ctx, s.opts.StallTimeout)
	defer w.done()
	in := &s3.PutObjectInput{
		Bucket:         &s.bucket,
		Key:            s.key(key),
		Body:           &watchedBody{r: src, w: w},
		ContentLength:  aws.Int64(size),
		ChecksumCRC32C: aws.String(sum),
	}
	if opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	_, err = s.client.PutObject(w.ctx, in, s.callOpts...)
	return s.classify(ctx, w, "put", key, err)
}

// putMultipart uploads parts Concurrency at a time. Reading the body stays
// sequential (it is only an io.ReadSeeker) unless it is an io.ReaderAt, in
// which case each part reads its own section and nothing is buffered.
func (s *Store) putMultipart(ctx context.Context, key string, body io.ReadSeeker, size int64, opts remote.PutOptions) error {
	partSize := s.opts.PartSize
	if need := (size + maxParts - 1) / maxParts; need > partSize {
		partSize = (need + 1<<20 - 1) &^ (1<<20 - 1) // round up to MiB
	}
	nparts := int((size + partSize - 1) / partSize)
	if opts.IfAbsent && !s.noPrecheck {
		// CompleteMultipartUpload enforces the condition, but only after
		// every part has been sent: a HEAD first saves that in the common
		// case. (A race between the two is still caught at completion.)
		if _, err := s.Stat(ctx, key); err == nil {
			return &remote.Error{Store: s.name, Op: "put", Key: key, Class: remote.ErrExists, Msg: "object already exists"}
		} else if !errors.Is(err, remote.ErrNotFound) {
			return err
		}
	}

	w := watch(ctx, s.opts.StallTimeout)
	created, err := s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
		Bucket:            &s.bucket,
		Key:               s.key(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	w.done()
	if err != nil {
		return s.classify(ctx, w, "put", key, err)
	}
	uploadID := created.UploadId

	err = s.uploadParts(ctx, key, uploadID, body, size, partSize, nparts, func(parts []types.CompletedPart) error {
		// Completing can take a while on the server for many parts.
		w := watch(ctx, 5*s.opts.StallTimeout)
		defer w.done()
		in := &s3.CompleteMultipartUploadInput{
			Bucket:          &s.bucket,
			Key:             s.key(key),
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		}
		if opts.IfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		_, err := s.client.CompleteMultipartUpload(w.ctx, in)
		return s.classify(ctx, w, "put", key, err)
	})
	if err != nil {
		// Free the parts stored so far. Best effort, and even when ctx is
		// cancelled; a bucket lifecycle rule (AbortIncompleteMultipartUpload)
		// catches what a crash leaves.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: s.key(key), UploadId: uploadID,
		})
		cancel()
	}
	return err
}

func (s *Store) uploadParts(ctx context.Context, key string, uploadID *string, body io.ReadSeeker, size, partSize int64, nparts int,
	complete func([]types.CompletedPart) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		slots   = make(chan struct{}, s.opts.Concurrency)
		parts   = make([]types.CompletedPart, nparts)
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel(err) })
	}
	ra, isRA := body.(io.ReaderAt)
	bufs := newPartBuffers(s.bufs, partSize, s.opts.Concurrency)
	defer bufs.release()

	for i := range nparts {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		off := int64(i) * partSize
		n := min(partSize, size-off)

		var src io.ReadSeeker
		var buf []byte
		if isRA {
			src = io.NewSectionReader(ra, off, n)
		} else {
			var err error
			if buf, err = bufs.get(ctx); err != nil {
				<-slots
				break
			}
			if got, err := io.ReadFull(body, buf[:n]); err != nil {
				bufs.put(buf)
				<-slots
				fail(s.bodyErr(key, &shortBody{off + int64(got), size, err}))
				break
			}
			src = bytes.NewReader(buf[:n])
		}

		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if buf != nil {
				defer bufs.put(buf)
			}
			part, err := s.uploadPart(ctx, key, uploadID, int32(i+1), src, n)
			if err != nil {
				fail(err)
				return
			}
			parts[i] = part
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := context.Cause(ctx); err != nil {
		return s.classify(ctx, nil, "put", key, err)
	}
	return complete(parts)
}

// uploadPart sends one part, retrying a transient failure a few times.
func (s *Store) uploadPart(ctx context.Context, key string, uploadID *string, num int32, src io.ReadSeeker, n int64) (types.CompletedPart, error) {
	sum, err := crc32c(src, n)
	if err != nil {
		return types.CompletedPart{}, s.bodyErr(key, err)
	}
	for attempt := 1; ; attempt++ {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return types.CompletedPart{}, s.errorf("put", key, "rewinding part %d: %v", num, err)
		}
		w := watch(ctx, s.opts.StallTimeout)
		out, err := s.client.UploadPart(w.ctx, &s3.UploadPartInput{
			Bucket:         &s.bucket,
			Key:            s.key(key),
			UploadId:       uploadID,
			PartNumber:     aws.Int32(num),
			Body:           &watchedBody{r: src, w: w},
			ContentLength:  aws.Int64(n),
			ChecksumCRC32C: aws.String(sum),
		}, s.callOpts...)
		w.done()
		if err == nil {
			return types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32C: aws.String(sum)}, nil
		}
		err = s.classify(ctx, w, "put", key, err)
		if remote.IsPermanent(err) || attempt == partAttempts {
			return types.CompletedPart{}, fmt.Errorf("%w (part %d, attempt %d)", err, num, attempt)
		}
		if err := backoff.Sleep(ctx, backoff.Jitter(attempt+1, 100*time.Millisecond, 10*time.Second)); err != nil {
			return types.CompletedPart{}, s.classify(ctx, nil, "put", key, err)
		}
	}
}

// section returns a reader over the first size bytes of body.
func section(body io.ReadSeeker, size int64) io.ReadSeeker {
	if ra, ok := body.(io.ReaderAt); ok {
		return io.NewSectionReader(ra, 0, size)
	}
	return &limitedSeeker{r: body, n: size}
}

// crc32c reads exactly n bytes of r and returns their CRC32C, base64 as S3
// wants it.
func crc32c(r io.Reader, n int64) (string, error) {
	h := crc32.New(castagnoli)
	got, err := io.CopyBuffer(h, io.LimitReader(r, n), make([]byte, 64<<10))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", &shortBody{got, n, err}
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h.Sum32())
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

type shortBody struct {
	got, want int64
	err       error
}

func (e *shortBody) Error() string {
	return fmt.Sprintf("body ended after %d of %d bytes: %v", e.got, e.want, e.err)
}
func (e *shortBody) Unwrap() error { return e.err }

// bodyErr reports a failure reading the caller's body: a body shorter than
// the size it was announced with is the caller's mistake, permanent.
func (s *Store) bodyErr(key string, err error) error {
	e := &remote.Error{Store: s.name, Op: "put", Key: key, Msg: err.Error(), Err: err}
	var sb *shortBody
	if errors.As(err, &sb) && (errors.Is(sb.err, io.EOF) || errors.Is(sb.err, io.ErrUnexpectedEOF)) {
		return remote.Permanent(e)
	}
	return e
}

// limitedSeeker is the first n bytes of a ReadSeeker that is not a
// ReaderAt. It reads at the underlying reader's position, which Put set to 0.
type limitedSeeker struct {
	r      io.ReadSeeker
	n, pos int64
}

func (l *limitedSeeker) Read(p []byte) (int, error) {
	if l.pos >= l.n {
		return 0, io.EOF
	}
	if rem := l.n - l.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.pos += int64(n)
	if err == io.EOF && l.pos < l.n {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (l *limitedSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += l.pos
	case io.SeekEnd:
		off += l.n
	}
	if off < 0 || off > l.n {
		return 0, fmt.Errorf("seek to %d outside [0,%d]", off, l.n)
	}
	if _, err := l.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	l.pos = off
	return off, nil
}
