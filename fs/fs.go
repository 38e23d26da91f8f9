package fs

import (
	"fmt"
	"github.com/syncfs/syncfs/internal/beneath"
	"github.com/syncfs/syncfs/internal/exclude"
	"log"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// Options configure a writable mount.
type Options struct {
	Backing string           // backing directory (must exist)
	Journal *journal.Journal // where writes and namespace changes are recorded
	Exclude []string         // patterns of names never journaled
	// Passthrough lets read-only opens use the kernel's FUSE passthrough
	// (reads then never reach the daemon). Writable opens never do.
	Passthrough bool
	// PassthroughQuiet is how long after its last writable handle closed a
	// file must stay unopened for writing before a read-only open may use
	// passthrough; see passthrough.go. Zero means 2s.
	PassthroughQuiet time.Duration
	Logger           *log.Logger // nil: the standard logger
	// OnNamespace, when set, is called with the directory (relative to
	// the root) of every entry the mount creates, removes or renames, so
	// that a watcher of the backing dir knows those events are the
	// mount's own.
	OnNamespace func(dir string)
}

// FS is the state of one writable mount, shared by all its nodes.
type FS struct {
	b           *beneath.Dir
	j           *journal.Journal
	exclude     *exclude.Matcher
	passthrough atomic.Bool
	quiet       time.Duration
	log         *log.Logger
	asRoot      bool // running as root: creations get the caller's owner
	writeback   atomic.Bool
	// directWrites: cached writable handles are opened FOPEN_DIRECT_IO.
	directWrites atomic.Bool
	// writeModeNote says why the write mode differs from the one asked for.
	writeModeNote atomic.Pointer[string]
	stats         Stats
	onNamespace   func(dir string)
}

// Stats counts what the mount did, for status and benchmarks.
type Stats struct {
	Writes       atomic.Int64
	WriteBytes   atomic.Int64
	Passthrough  atomic.Int64 // read-only opens served by passthrough
	ReadOnlyOpen atomic.Int64
}

// New prepares a mount over opts.Backing. It sets the process umask to 0:
// the kernel already applied the caller's umask to every mode it sends,
// and the daemon must create files with exactly that mode.
func New(opts Options) (*FS, error) {
	if opts.Journal == nil {
		return nil, fmt.Errorf("fs: no journal")
	}
	b, err := beneath.Open(opts.Backing)
	if err != nil {
		return nil, err
	}
	ex, err := exclude.New(opts.Exclude)
	if err != nil {
		b.Close()
		return nil, err
	}
	fs := &FS{b: b, j: opts.Journal, exclude: ex, quiet: opts.PassthroughQuiet, log: opts.Logger, asRoot: os.Geteuid() == 0}
	if fs.quiet <= 0 {
		fs.quiet = 2 * time.Second
	}
	if fs.log == nil {
		fs.log = log.Default()
	}
	fs.passthrough.Store(opts.Passthrough)
	fs.onNamespace = opts.OnNamespace
	if fs.onNamespace == nil {
		fs.onNamespace = func(string) {}
	}
	syscall.Umask(0)
	return fs, nil
}

// Root returns the root node to mount.
func (fs *FS) Root() gofs.InodeEmbedder {
	n := &node{fs: fs}
	n.id.Store(uint64(journal.RootID))
	return n
}

// Close releases the backing directory. The journal is the caller's.
func (fs *FS) Close() { fs.b.Close() }

// Stats returns the mount's counters.
func (fs *FS) Stats() *Stats { return &fs.stats }

// WriteMode names how writes reach the daemon, as negotiated with the
// kernel: "direct" (FOPEN_DIRECT_IO), "writeback-cache" or
// "write-through" (each write(2) waits for the daemon).
func (fs *FS) WriteMode() string {
	switch {
	case fs.directWrites.Load():
		return "direct"
	case fs.writeback.Load():
		return "writeback-cache"
	}
	return "write-through"
}

// WriteModeNote says why the write mode is not the one asked for, or "".
func (fs *FS) WriteModeNote() string {
	if p := fs.writeModeNote.Load(); p != nil {
		return *p
	}
	return ""
}

func (fs *FS) logf(format string, args ...any) { fs.log.Printf(format, args...) }

// Inode numbers: a journaled inode's number is its journal ID, stable for
// its life and across remounts; an inode that is not journaled (excluded,
// or a device or fifo) gets its backing inode number with the top bit set,
// so the two ranges never meet.
const unjournaledIno = 1 << 63

func stableAttr(id journal.ID, st *unix.Stat_t) gofs.StableAttr {
	ino := uint64(id)
	if id == 0 {
		ino = st.Ino | unjournaledIno
	}
	return gofs.StableAttr{Mode: st.Mode & unix.S_IFMT, Ino: ino}
}

func kindOf(mode uint32) journal.Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return journal.KindFile
	case unix.S_IFDIR:
		return journal.KindDir
	case unix.S_IFLNK:
		return journal.KindSymlink
	}
	return 0 // fifos, sockets, devices: not shipped
}

func fillAttr(out *fuse.Attr, st *unix.Stat_t, ino uint64) {
	var sst syscall.Stat_t
	sst.Dev, sst.Ino, sst.Nlink, sst.Mode = st.Dev, st.Ino, st.Nlink, st.Mode
	sst.Uid, sst.Gid, sst.Rdev, sst.Size = st.Uid, st.Gid, st.Rdev, st.Size
	sst.Blksize, sst.Blocks = st.Blksize, st.Blocks
	sst.Atim = syscall.Timespec(st.Atim)
	sst.Mtim = syscall.Timespec(st.Mtim)
	sst.Ctim = syscall.Timespec(st.Ctim)
	out.FromStat(&sst)
	out.Ino = ino
}
