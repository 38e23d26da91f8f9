// Package browsetest writes remote trees in the format of docs/format.md
// for the tests of the readers (package browse, the read-only mount, ls,
// cat and get), and damages them the ways a hostile or broken remote can.
//
// Its Writer is a small, honest uploader: it keeps each file's bytes in
// memory, and every operation is one commit in the documented order
// (data objects, segment manifests, inode manifest, then deletion of
// what is no longer referred to), with frames of at most 16 blocks
// compressed by format.Compressor, block hashes and digests, and
// in-place rewrites that split extents the way a solver's rewrites do.
// It exists because the readers must be tested against the format, not
// against whatever one uploader happens to do; when the real uploader
// lands, end-to-end tests use it too.
package browsetest
