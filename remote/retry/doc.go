// Package retry is a remote.Store decorator that retries transient failures
// (a 503, a reset connection, a stalled request) with exponential backoff
// and full jitter, within a bounded time per operation.
//
// It retries every operation, and only what remote.IsPermanent does not
// rule out: not-found, exists, invalid keys, access denied, a missing
// bucket and a cancelled context are returned at once. Put rewinds the body
// before each attempt. Get retries opening the object, not a body that
// fails half-way: resuming at an offset could splice two versions of an
// object overwritten in between, so that error goes to the caller, who
// knows what the bytes should be. List starts over after a failure and
// skips the keys it already delivered, so fn sees each key once, in order.
//
// A Put with IfAbsent whose first attempt reached the store but whose
// answer was lost fails its retry with remote.ErrExists although the object
// is the caller's own; callers of conditional puts compare contents (the
// lease does).
//
// The package logs nothing; Options.OnRetry sees every retry (the uploader
// counts them).
package retry
