// Package download copies a file or a tree out of a remote into a local
// directory: `syncfs get`. It lives apart from the CLI so that tests can
// drive it, and apart from browse because it writes local files.
//
// What it guarantees, and how:
//
//   - Nothing is written outside the local directory. Names come from
//     browse (already checked by format.CheckName) and are checked again;
//     every file system call is relative to a directory descriptor opened
//     with O_NOFOLLOW, so a symlink in the tree (or one planted locally)
//     is never followed: symlinks from the remote are created as
//     symlinks, and a local symlink where a file or directory must go is
//     replaced, not written through.
//   - A file appears under its name only once it is complete and
//     verified: its bytes go to a partial file beside it (a fixed name
//     derived from the name), which is renamed into place after every
//     block's hash matched the segment manifests and the segment digests
//     matched the inode manifest. One version only: if the version being
//     copied is superseded mid-way, the copy restarts with the new one.
//   - It resumes: blocks of an existing file (complete or partial) whose
//     hashes already match are kept, so an interrupted or repeated get
//     fetches only what is missing or changed.
//   - Modes and mtimes are those of the remote (owners too, when run as
//     root), set after a directory's contents so they stick.
package download
