// Package posix is syncfs's reusable POSIX suite: each test takes a fresh
// empty directory inside a mount and checks that an operation a solver or
// a shell uses behaves as on a local filesystem. The fs package runs it on
// an in-process mount; the end-to-end tests run it through the binary.
//
// Tests that need root (chown, acting as another user) skip without it;
// the mount must then be mounted by root with allow_other.
package posix

import (
	"testing"
)

// Test is one check, run in an empty directory dir of the mount.
type Test func(t *testing.T, dir string)

// All returns the suite by name.
func All() map[string]Test {
	return map[string]Test{
		"WriteRead":             WriteRead,
		"AppendWrite":           AppendWrite,
		"PwriteHoles":           PwriteHoles,
		"TruncateUpDown":        TruncateUpDown,
		"Fallocate":             Fallocate,
		"Fsync":                 Fsync,
		"RenameOverExisting":    RenameOverExisting,
		"RenameAcrossDirs":      RenameAcrossDirs,
		"RenameNoReplace":       RenameNoReplace,
		"RenameExchange":        RenameExchange,
		"UnlinkOpenFile":        UnlinkOpenFile,
		"MkdirRmdir":            MkdirRmdir,
		"ReaddirMany":           ReaddirMany,
		"SymlinkReadlink":       SymlinkReadlink,
		"HardLink":              HardLink,
		"ChmodModes":            ChmodModes,
		"CreateModesUmask":      CreateModesUmask,
		"Chown":                 Chown,
		"SetgidDirInherits":     SetgidDirInherits,
		"Utimens":               Utimens,
		"Xattrs":                Xattrs,
		"Statfs":                Statfs,
		"MmapShared":            MmapShared,
		"Flock":                 Flock,
		"PosixLockOtherProc":    PosixLockOtherProc,
		"OtherUser":             OtherUser,
		"LongPaths":             LongPaths,
		"InoStableAcrossStat":   InoStableAcrossStat,
		"ODirectWrite":          ODirectWrite,
		"ManyFilesConcurrent":   ManyFilesConcurrent,
		"ReadOnlyOpenSeesData":  ReadOnlyOpenSeesData,
		"ReaderSeesLaterWrites": ReaderSeesLaterWrites,
	}
}
