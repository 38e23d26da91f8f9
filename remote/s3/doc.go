// Package s3 is the s3:// backend: objects live under a prefix of a bucket
// on AWS S3 or an S3-compatible server (MinIO, Ceph RGW), reached with
// github.com/aws/aws-sdk-go-v2.
//
// What it takes from the environment, and what it does not:
//
//   - Credentials come only from the SDK's standard chain (environment,
//     shared config and credentials files, AWS_PROFILE, SSO, web identity,
//     instance roles). Nothing here logs, prints or puts them in errors; the
//     SDK's logger is replaced by a no-op one.
//   - The endpoint is Options.Endpoint (the CLI's --s3-endpoint), else
//     AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (or endpoint_url in the
//     shared config), else AWS. A custom endpoint implies path-style
//     addressing, which MinIO and Ceph need.
//   - The region defaults to us-east-1 when none is configured.
//   - AWS_CA_BUNDLE is honoured when it names a readable PEM bundle. When it
//     does not, an https endpoint fails at New with one line naming the
//     variable (remote.ErrTLSBundle); a plain-http endpoint does not use TLS
//     for S3 requests and keeps working.
//
// Writes: objects up to Options.MultipartThreshold go in one PUT; larger
// ones in parts of Options.PartSize, Options.Concurrency at a time. Memory
// stays bounded whatever the object size: a body that is an io.ReaderAt (an
// *os.File) is read in place, one section per part; any other body is read
// into part buffers from a pool shared by the whole Store. Each request
// carries a CRC32C of its body (x-amz-checksum-crc32c, computed here in one
// pass, so the server rejects a corrupted body) and is signed with
// UNSIGNED-PAYLOAD, which spares a SHA-256 pass over every byte.
//
// Retries belong to remote/retry: the SDK's retryer is aws.NopRetryer (one
// attempt), so that the policy, its time bound and its counting live in one
// place. The one exception is a failed part of a multipart upload, retried
// here a few times because restarting the whole object would resend every
// part. Every request is watched: no progress for Options.StallTimeout (no
// body bytes taken or given, no response) cancels it with a transient error.
package s3
