package s3

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/syncfs/syncfs/remote"
)

// List pages through ListObjectsV2 (1000 keys a page), which returns keys in
// UTF-8 byte order, the order of Go strings. Keys that are not valid keys
// (directory markers ending in '/', objects other tools wrote) are skipped:
// a Store only ever hands out keys it can also Get.
func (s *Store) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 && remote.ValidKey(prefix[:i]) != nil {
		return nil // no valid key starts with this prefix
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		w := watch(ctx, s.opts.StallTimeout)
		page, err := p.NextPage(w.ctx)
		w.done()
		if err != nil {
			return s.classify(ctx, w, "list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if remote.ValidKey(key) != nil {
				continue
			}
			oi := remote.ObjectInfo{Key: key, Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				oi.ModTime = *o.LastModified
			}
			if err := fn(oi); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object. S3 answers a delete of a missing key with
// success already.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.validKey(key); err != nil {
		return err
	}
	w := watch(ctx, s.opts.StallTimeout)
	defer w.done()
	_, err := s.client.DeleteObject(w.ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	err = s.classify(ctx, w, "delete", key, err)
	if remote.IsPermanent(err) && isNotFound(err) {
		return nil
	}
	return err
}
