// Package uploader ships what the journal records to a remote store, in
// the format of docs/format.md: the dirty byte ranges of each file as
// compressed frames, the namespace operations as dentry puts and deletes.
//
// A commit of one inode claims its dirty ranges (one journal transaction),
// reads only those ranges from the backing file (widened to whole 64 KiB
// blocks, the unit of hashing), compresses them, puts the data objects,
// then the segment manifests, then the inode manifest (the one atomic
// switch), deletes what the new manifest no longer refers to, and only
// then acknowledges the claim. A write that lands after the claim makes
// the range dirty again; a crash anywhere leaves the old or the new
// version readable and the claim in the journal, so the restarted daemon
// ships it again (puts are idempotent) and sweeps the objects nothing
// refers to.
//
// Compaction is the same path: ranges whose stored frames are mostly dead
// (their object is 75% superseded) are shipped again from the local file,
// so an object is only ever rewritten for the little of it still alive,
// and a small change never turns into a whole-file upload.
//
// The uploader takes the journal and the store as narrow interfaces; it
// never imports a concrete backend.
package uploader
