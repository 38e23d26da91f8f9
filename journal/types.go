package journal

import (
	"fmt"

	"github.com/syncfs/syncfs/internal/ranges"
)

// ID identifies a file, directory or symlink for its whole life, across
// renames. IDs are never reused.
type ID uint64

// RootID is the ID of the mount's root directory.
const RootID ID = 1

func (id ID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// Kind is the type of an inode.
type Kind uint8

const (
	KindFile Kind = iota + 1
	KindDir
	KindSymlink
)

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

// OpType is the type of a metadata operation in the log.
type OpType uint8

const (
	OpCreate   OpType = iota + 1 // a file, dir or symlink appeared at (Parent, Name)
	OpLink                       // ID got another name (Parent, Name)
	OpUnlink                     // (Parent, Name) of file or symlink ID was removed
	OpRmdir                      // directory ID at (Parent, Name) was removed
	OpRename                     // (Parent, Name) moved to (NewParent, NewName)
	OpSetattr                    // mode, owner or times of ID changed
	OpTruncate                   // ID's size was set to Size
	OpXattr                      // an extended attribute of ID changed
)

var opNames = map[OpType]string{
	OpCreate: "create", OpLink: "link", OpUnlink: "unlink", OpRmdir: "rmdir",
	OpRename: "rename", OpSetattr: "setattr", OpTruncate: "truncate", OpXattr: "xattr",
}

func (t OpType) String() string {
	if s, ok := opNames[t]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// Op is one entry of the ordered metadata log.
type Op struct {
	Seq  uint64 // position in the log; also the generation of the change
	Type OpType
	ID   ID
	Kind Kind

	Parent ID
	Name   string

	// Rename only.
	NewParent ID
	NewName   string
	Exchange  bool // RENAME_EXCHANGE: the two entries swapped

	// Replaced is the inode that lost the name (Parent, Name) for OpCreate,
	// or (NewParent, NewName) for OpRename, when one was there; 0 if none.
	Replaced ID
	// ReplacedKind is the kind of Replaced, for RENAME_EXCHANGE.
	ReplacedKind Kind
	// Dead reports that the inode the op removed a name from (ID for
	// OpUnlink and OpRmdir, Replaced for OpCreate and OpRename) has no name
	// left: its remote data can be deleted.
	Dead bool

	Target  string // OpCreate of a symlink
	Size    int64  // OpTruncate
	Adopted bool   // OpCreate of something found in the backing directory
}

// FileState is what the journal holds for one inode that has work pending.
type FileState struct {
	ID        ID
	Path      string     // a path of the inode, "" if it has none
	Dirty     ranges.Set // ranges written and not yet claimed
	InFlight  ranges.Set // ranges claimed by the uploader, not yet acknowledged
	AttrDirty bool       // size, mode, times or xattrs changed
	Claimed   bool       // an upload of this inode is in flight
	Gen       uint64     // oldest generation among the pending changes
	OpenWrite bool       // marked open for write
}

// Claim is a set of changes of one inode handed to the uploader.
type Claim struct {
	ID        ID
	Ranges    ranges.Set
	AttrDirty bool
	// Shrunk: the file was truncated to MinSize since the last claim, so
	// bytes from MinSize on that Ranges does not cover are zeros (or gone).
	Shrunk  bool
	MinSize int64
	Gen     uint64 // oldest generation covered by the claim
	token   uint64
}
