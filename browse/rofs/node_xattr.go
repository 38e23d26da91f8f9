package rofs

import (
	"context"
	"strings"
	"syscall"

	"github.com/syncfs/syncfs/format"
)

// Only user.* attributes are shown: a remote must not be able to hand a
// file security.capability, ACLs or other attributes the kernel acts on.
func shownXattr(x format.Xattr) bool {
	return strings.HasPrefix(x.Name, "user.") && len(x.Name) > len("user.") && !strings.ContainsRune(x.Name, 0)
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	m, err := n.manifest(ctx, n.fs.opts.Refresh)
	if err != nil {
		return 0, n.fs.toErrno("getxattr", n.id, err)
	}
	for _, x := range m.Xattrs {
		if x.Name == attr && shownXattr(x) {
			if len(dest) == 0 {
				return uint32(len(x.Value)), 0
			}
			if len(dest) < len(x.Value) {
				return 0, syscall.ERANGE
			}
			return uint32(copy(dest, x.Value)), 0
		}
	}
	return 0, syscall.ENODATA
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	m, err := n.manifest(ctx, n.fs.opts.Refresh)
	if err != nil {
		return 0, n.fs.toErrno("listxattr", n.id, err)
	}
	var names []byte
	for _, x := range m.Xattrs {
		if shownXattr(x) {
			names = append(append(names, x.Name...), 0)
		}
	}
	if len(dest) == 0 {
		return uint32(len(names)), 0
	}
	if len(dest) < len(names) {
		return 0, syscall.ERANGE
	}
	return uint32(copy(dest, names)), 0
}
