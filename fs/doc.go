// Package fs is the FUSE layer of a writable syncfs mount: a loopback over a
// backing directory that records every write, truncate and namespace
// change in the journal before it answers the kernel.
//
// It stays thin. Node and file methods translate go-fuse calls into
// fd-relative system calls on the backing directory (openat2 beneath the
// root, never an absolute path, so paths near PATH_MAX work and nothing
// escapes the root through a symlink) and into journal calls; errno.go is
// the one place where errors become errnos.
//
// What it takes care of, and why:
//   - Writable opens never use kernel passthrough: a passthrough write
//     never reaches the daemon and so would never be journaled. Read-only
//     opens may (see passthrough.go for when).
//   - The kernel writeback cache is on, so writes arrive coalesced and
//     rounded to pages; fsync(2) and close(2) still commit the journal
//     before they return, because FLUSH and FSYNC wait for it.
//   - Files matching an exclude pattern are written to the backing
//     directory like any other but never journaled, so never shipped.
//   - The mount serves other users (allow_other with default_permissions):
//     the kernel checks permissions; the daemon creates files with the
//     caller's owner and exactly the mode the caller asked for.
//
// go-fuse's own package is imported as gofs, since this package is fs too.
package fs
