// Package rofs is the read-only FUSE mount of a syncfs remote: the tree
// that package browse reads, as a file system users can ls, cat, cp and
// open in a viewer.
//
// It stays thin: nodes translate go-fuse calls into browse calls, and
// errno.go is the one place errors become errnos. What it decides, and
// why:
//
//   - Read-only for real: the kernel mount is MS_RDONLY (so every write
//     is refused before it reaches the daemon), and every write-like
//     operation the daemon implements answers EROFS anyway (erofs.go).
//   - Attributes come from inode manifests and entries from dentries;
//     the kernel may cache both for --refresh, after which it asks again
//     and the daemon re-reads them. Files kept open are polled every
//     --refresh (refresh.go), so a viewer of a file that a running job is
//     still writing sees new versions within that bound.
//   - The kernel page cache is kept across opens (FOPEN_KEEP_CACHE) while
//     a file's manifest version is unchanged, and dropped (on open, or by
//     a content notification) when a new version is seen.
//   - Each READ is served from one manifest version (browse.Follow), and
//     sequential readers get read-ahead (browse.Readahead): the daemon
//     fetches a growing window of frames ahead of them, in parallel.
//   - Names from the remote were checked by browse (no '/', "..", NUL, or
//     over NAME_MAX); xattrs outside the user namespace are not shown, and
//     the mount is nosuid and nodev: a remote cannot grant privileges.
//
// go-fuse's fs package is imported as gofs, as everywhere in syncfs.
//
// Lock order: FS.mu before node.mu; neither is held while calling the
// store or the kernel (notifications run in their own goroutines).
package rofs
