package rofs

import gofs "github.com/hanwen/go-fuse/v2/fs"

// Every go-fuse interface the nodes and handles implement, checked at
// compile time: a method whose signature drifts from go-fuse's would
// otherwise silently stop being called.
var (
	// node.go
	_ = (gofs.NodeLookuper)((*node)(nil))
	_ = (gofs.NodeGetattrer)((*node)(nil))
	_ = (gofs.NodeReadlinker)((*node)(nil))
	_ = (gofs.NodeReaddirer)((*node)(nil))
	_ = (gofs.NodeStatfser)((*node)(nil))
	// node_xattr.go
	_ = (gofs.NodeGetxattrer)((*node)(nil))
	_ = (gofs.NodeListxattrer)((*node)(nil))
	// file.go
	_ = (gofs.NodeOpener)((*node)(nil))
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
	_ = (gofs.FileGetattrer)((*handle)(nil))
	_ = (gofs.FileWriter)((*handle)(nil))
	// passthrough.go
	_ = (gofs.FilePassthroughFder)((*ptHandle)(nil))
	_ = (gofs.FileReleaser)((*ptHandle)(nil))
	_ = (gofs.FileReader)((*ptHandle)(nil))
	// erofs.go: every write-like call answers EROFS
	_ = (gofs.NodeSetattrer)((*node)(nil))
	_ = (gofs.NodeCreater)((*node)(nil))
	_ = (gofs.NodeMkdirer)((*node)(nil))
	_ = (gofs.NodeMknoder)((*node)(nil))
	_ = (gofs.NodeLinker)((*node)(nil))
	_ = (gofs.NodeSymlinker)((*node)(nil))
	_ = (gofs.NodeUnlinker)((*node)(nil))
	_ = (gofs.NodeRmdirer)((*node)(nil))
	_ = (gofs.NodeRenamer)((*node)(nil))
	_ = (gofs.NodeSetxattrer)((*node)(nil))
	_ = (gofs.NodeRemovexattrer)((*node)(nil))
	_ = (gofs.NodeAllocater)((*node)(nil))
	_ = (gofs.NodeCopyFileRanger)((*node)(nil))
)
