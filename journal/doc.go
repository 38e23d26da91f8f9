// Package journal records, durably and in order, everything the uploader
// must ship: which byte ranges of which files are dirty, and the metadata
// operations (create, rename, unlink, ...) that change the namespace.
//
// It is the only state syncfs keeps on the compute node besides the backing
// directory itself, so it is built to survive a daemon killed at any moment:
//
//   - Files and directories get stable IDs that survive rename. The journal
//     mirrors the namespace as dentries (parent ID, name) -> child ID, so the
//     remote can be keyed by ID and a rename costs one small update.
//   - Writes are recorded in memory and group-committed to bbolt in the
//     background; Sync (called by fsync(2) and close(2)) forces a commit and
//     waits for it. A file opened for writing is durably marked before
//     open(2) returns, so a range lost between a write and its commit is
//     still caught on restart by comparing the marked file in full.
//   - The uploader claims a file's dirty ranges (moving them to in-flight in
//     one transaction), ships them, and acknowledges the claim. A write that
//     lands after the claim is dirty again; an acknowledgement removes only
//     what was claimed.
//   - Every change gets a generation number from one counter, so "flush
//     everything changed before now" is a comparison against a barrier.
//
// The journal does not import fs, uploader or remote: it knows nothing about
// FUSE or object stores.
package journal
