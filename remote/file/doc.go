// Package file is the file:// backend: objects are regular files under a
// root directory, named by their keys. It is the default for a laptop or a
// test, and it also serves a shared parallel file system (NFS, Lustre,
// GPFS) as the remote, so it relies only on what those give across nodes:
//
//   - A put is atomic: the bytes go to a temporary file in the object's
//     directory (named with remote.ReservedPrefix, so never a valid key and
//     skipped by List), which is fsynced and renamed over the key; then the
//     directory is fsynced. A reader sees the old file or the new one.
//   - A conditional put (IfAbsent) links the temporary file to the key with
//     link(2), which fails with EEXIST when the key exists, atomically, on
//     NFS too; a lost reply is detected from the link count, as open(2)
//     recommends. No flock, which is not coherent across NFS clients.
//   - Keys are validated with remote.ValidKey and opened with openat2(2)
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (or a component-by-component
//     O_NOFOLLOW walk on kernels without openat2), so neither a key nor a
//     symlink planted inside the root can reach outside it.
//   - A key cannot be both an object and a directory: "a" and "a/b" cannot
//     coexist. The second put fails with remote.ErrKeyConflict and the
//     first object is left alone.
//
// A put interrupted by a crash can leave a temporary file behind; it is
// invisible to List and Get and can be removed by hand (or by a sweep of
// names starting with ".syncfs-").
package file
