// Package format encodes and decodes what syncfs keeps in a remote store:
// keys, dentries, inode and segment manifests, and compressed frames.
// docs/format.md is its specification, byte by byte.
//
// It is shared by the writer (uploader), the readers (the read-only
// mount, ls, cat, get) and verify, and so it is where hostile input is
// stopped: every decoder checks magic, checksum, bounds and ordering and
// returns an error, never panics, never allocates more than the input
// justifies (fuzz_test.go).
//
// It imports neither remote nor journal: it turns values into bytes and
// keys, and back.
package format

import "fmt"

// ID is an inode ID (the journal's).
type ID uint64

// RootID is the root directory's ID.
const RootID ID = 1

func (id ID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// Kind is an inode's type.
type Kind uint8

const (
	KindFile    Kind = 1
	KindDir     Kind = 2
	KindSymlink Kind = 3
)

func (k Kind) valid() bool { return k >= KindFile && k <= KindSymlink }

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Geometry of format 1.
const (
	Version       = 1
	BlockSize     = 64 << 10                  // unit of hashing and alignment
	SegmentBlocks = 1024                      // blocks per segment
	SegmentSize   = BlockSize * SegmentBlocks // 64 MiB
	MaxFrameRaw   = 1 << 20                   // raw bytes per frame (16 blocks)
	MaxObjectRaw  = 8 << 20                   // raw bytes per data object
	MaxFileSize   = 1 << 50                   // 1 PiB: larger sizes are hostile
	// MaxManifest is the largest inode manifest object: what readers
	// read and what the uploader writes (a file of about 94 TiB; a
	// manifest of a 1 PiB file would be 700 MB, not a real case).
	MaxManifest = 64 << 20
	// MaxSegmentManifest is the largest segment manifest readers read:
	// a format-2 segment with every one of its 16,384 pages its own
	// extent is 688 KiB (the uploader keeps to 4096 extents, 180 KiB).
	MaxSegmentManifest = 1 << 20
	MaxTarget          = 4095
	MaxXattrBytes      = 64 << 10
	MaxNameLen         = 255
	HashSize           = 16 // bytes of SHA-256 kept per block
)

// Format 2 (docs/format.md): the geometry of format 1, with extents that
// start and end on page boundaries instead of block boundaries.
const (
	Version2 = 2
	PageSize = 4 << 10 // unit of a format-2 extent's alignment
)
