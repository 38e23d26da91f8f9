package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/syncfs/syncfs/journal"
	"golang.org/x/sys/unix"
)

// handle is what every open file of the mount implements.
type handle interface {
	fd() int
}

// file is an open regular file.
type file struct {
	n        *node
	fdv      int
	writable bool
	mode     openMode
	marked   journal.ID // inode marked open for write by this handle, 0 if none
	blind    journal.ID // inode whose writes this blind handle announced (BeginWrite), 0 if none

	mu       sync.Mutex
	released bool
}

// ptFile is a file whose I/O the kernel does itself (passthrough). Only
// this type offers a passthrough fd to go-fuse: a writable cached file
// must never look like one.
type ptFile struct{ *file }

var _ = (gofs.FilePassthroughFder)((*ptFile)(nil))

func (f *ptFile) PassthroughFd() (int, bool) { return f.fdv, true }

func (f *file) fd() int { return f.fdv }

// openFlags adapts the flags of an open for the backing file. O_APPEND is
// dropped because the kernel computes each write's offset (and pwrite on
// an O_APPEND fd would ignore it). With the writeback cache the kernel
// reads pages of files opened write-only, so those become read-write.
func (fs *FS) openFlags(flags uint32) uint32 {
	flags &^= unix.O_APPEND | fuse.FMODE_EXEC | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY
	if fs.writeback.Load() && flags&unix.O_ACCMODE == unix.O_WRONLY {
		flags = flags&^unix.O_ACCMODE | unix.O_RDWR
	}
	return flags
}

// newHandle wraps fd, opened with flags, as a handle of n; marked says
// whether n's ID was marked open for write for it. It returns the handle
// and the FOPEN_ flags its mode needs.
func (n *node) newHandle(fd int, flags uint32, marked bool) (gofs.FileHandle, uint32) {
	writable := flags&unix.O_ACCMODE != unix.O_RDONLY
	f := &file{n: n, fdv: fd, writable: writable}
	if marked {
		f.marked = n.jid()
	}
	f.mode = n.chooseMode(writable)
	if f.mode == modeBlind {
		// Its writes are never seen: until it is released, any byte of
		// the file may be changing under a commit (journal.Touched).
		if f.blind = n.jid(); f.blind != 0 {
			n.fs.j.BeginWrite(f.blind, 0, journal.Whole)
		}
	}
	if f.mode == modeCached {
		if writable && n.fs.directWrites.Load() {
			return f, fuse.FOPEN_DIRECT_IO
		}
		return f, 0
	}
	if f.mode == modePassthrough {
		n.fs.stats.Passthrough.Add(1)
	}
	return &ptFile{f}, 0
}

var _ = (gofs.NodeOpener)((*node)(nil))

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	rel, ok := n.rel()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	flags = n.fs.openFlags(flags)
	writable := flags&unix.O_ACCMODE != unix.O_RDONLY
	id := n.jid()
	if id != 0 && writable {
		if err := n.fs.j.Err(); err != nil {
			return nil, 0, n.fs.toErrno("open", rel, journalErr(err))
		}
	}
	var oldSize int64 = -1
	if flags&unix.O_TRUNC != 0 && id != 0 {
		var st unix.Stat_t
		if err := n.fstat(rel, &st); err == nil {
			oldSize = st.Size
		}
	}
	fd, err := n.fs.b.Open(rel, int(flags)|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, 0, n.fs.toErrno("open", rel, err)
	}
	if id != 0 && writable {
		if err := n.fs.j.OpenForWrite(id); err != nil {
			unix.Close(fd)
			return nil, 0, n.fs.toErrno("open", rel, journalErr(err))
		}
	}
	if oldSize > 0 {
		if err := n.fs.j.Truncate(id, oldSize, 0); err != nil {
			n.fs.logf("open %q: O_TRUNC: %v", rel, err)
		}
	}
	if !writable {
		n.fs.stats.ReadOnlyOpen.Add(1)
	}
	h, fl := n.newHandle(fd, flags, id != 0 && writable)
	return h, fuse.FOPEN_KEEP_CACHE | fl, 0
}

var (
	_ = (gofs.FileReader)((*file)(nil))
	_ = (gofs.FileWriter)((*file)(nil))
	_ = (gofs.FileWritever)((*file)(nil))
	_ = (gofs.FileFlusher)((*file)(nil))
	_ = (gofs.FileFsyncer)((*file)(nil))
	_ = (gofs.FileReleaser)((*file)(nil))
	_ = (gofs.FileGetattrer)((*file)(nil))
	_ = (gofs.FileAllocater)((*file)(nil))
	_ = (gofs.FileLseeker)((*file)(nil))
)

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(uintptr(f.fdv), off, len(buf)), 0
}

// journaled returns the ID a size change through f is recorded under, or
// 0. It checks the journal first: fallocate waits for no commit of its
// own, and one that cannot be recorded fails rather than land unrecorded.
func (f *file) journaled() (journal.ID, error) {
	id := f.n.jid()
	if id == 0 {
		return 0, nil
	}
	if err := f.n.fs.j.Err(); err != nil {
		return 0, journalErr(err)
	}
	return id, nil
}

// Write is accepted even while the journal cannot commit (a full state
// disk): its range waits in memory with the others, and fsync(2) and
// close(2) report the commit error. Refusing it would not keep the bytes
// out of the file's view: with the writeback cache the kernel keeps the
// pages of a WRITE that failed, so the mount would show bytes that the
// backing file and the remote never get. A crash before a commit succeeds
// loses no range: the file is durably marked open for write (OpenForWrite
// needs a commit, and opens fail while none succeeds) or is unknown to
// the journal (created since the last commit), and the start-up scan
// compares or adopts it whole.
func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	id := f.n.jid()
	f.beginWrite(id, off, int64(len(data)))
	f.n.wmu.Lock()
	n, err := unix.Pwrite(f.fdv, data, off)
	f.n.wmu.Unlock()
	f.recordWrite(id, off, int64(len(data)), n)
	if err != nil {
		return uint32(max(n, 0)), f.errno("write", err)
	}
	return uint32(n), 0
}

func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	id := f.n.jid() // accepted while the journal cannot commit: see Write
	var total int64
	for _, d := range data {
		total += int64(len(d))
	}
	f.beginWrite(id, off, total)
	f.n.wmu.Lock()
	n, err := unix.Pwritev(f.fdv, data, off)
	f.n.wmu.Unlock()
	f.recordWrite(id, off, total, n)
	if err != nil {
		return uint32(max(n, 0)), f.errno("write", err)
	}
	return uint32(n), 0
}

// startWriteback is the write size from which the daemon asks the disk to
// start writing at once (sync_file_range, no wait): without it a large
// sequential write fills the backing page cache first and the final fsync
// writes it all, the transfer and the disk one after the other.
const startWriteback = 256 << 10

// beginWrite announces a write of n bytes at off before it reaches the
// backing file (journal.BeginWrite); recordWrite ends it, with the same
// off and n, recording the wrote bytes it wrote.
func (f *file) beginWrite(id journal.ID, off, n int64) {
	if id != 0 {
		f.n.fs.j.BeginWrite(id, off, n)
	}
}

func (f *file) recordWrite(id journal.ID, off, announced int64, n int) {
	if id != 0 {
		f.n.fs.j.EndWrite(id, off, announced, int64(n))
	}
	if n <= 0 {
		return
	}
	if n >= startWriteback {
		unix.SyncFileRange(f.fdv, off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
	}
	f.n.fs.stats.Writes.Add(1)
	f.n.fs.stats.WriteBytes.Add(int64(n))
}

// Flush is close(2). It records what a blind writer wrote but does not
// wait for a commit, so that a writer of many small files (tar -x, cp -a)
// pays no fdatasync per file: the file's ranges become durable with the
// next group commit (within the commit interval), and until then nothing
// can be lost, because the file is durably marked open for write
// (OpenForWrite and CreateOpen put the mark with the file) or not yet
// known to the journal, and the mark leaves only in the commit that makes
// the ranges durable. A crash before it has the start-up scan compare or
// adopt the file whole (docs/design.md, invariant 1). A journal that
// cannot commit makes close fail: nothing is called recorded that is not.
func (f *file) Flush(ctx context.Context) syscall.Errno {
	if !f.writable {
		return 0
	}
	if err := f.recordBlind(); err != nil {
		return f.errno("close", err)
	}
	return f.errno("close", journalErr(f.n.fs.j.Err()))
}

// recordBlind records the whole file dirty for a blind (passthrough)
// writer, whose writes the daemon never saw.
func (f *file) recordBlind() error {
	id := f.n.jid()
	if id == 0 || f.mode != modeBlind {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fdv, &st); err != nil {
		return err
	}
	f.n.fs.j.RecordWrite(id, 0, st.Size)
	return nil
}

// commit makes f's recorded writes durable.
func (f *file) commit() error {
	if err := f.recordBlind(); err != nil {
		return err
	}
	if id := f.n.jid(); id != 0 {
		return f.n.fs.j.SyncFile(id)
	}
	return nil
}

// Fsync makes the backing file and the journal's record of its ranges
// durable. The two flushes run at once (fsync(2) then costs the longer of
// them, not their sum): their order does not matter, since a crash
// between them leaves either a journaled range whose bytes ship as the
// backing file has them, or bytes the journal does not know yet, which
// the start-up comparison of files marked open finds.
func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	var journaled chan error
	if f.writable {
		journaled = make(chan error, 1)
		go func() { journaled <- f.commit() }()
	}
	var err error
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		err = unix.Fdatasync(f.fdv)
	} else {
		err = unix.Fsync(f.fdv)
	}
	var jerr error
	if journaled != nil {
		jerr = <-journaled
	}
	if err != nil {
		return f.errno("fsync", err)
	}
	return f.errno("fsync", journalErr(jerr))
}

func (f *file) Release(ctx context.Context) syscall.Errno {
	f.mu.Lock()
	if f.released {
		f.mu.Unlock()
		return syscall.EBADF
	}
	f.released = true
	f.mu.Unlock()
	if err := f.recordBlind(); err != nil {
		f.n.fs.logf("release: %v", err)
	}
	err := unix.Close(f.fdv)
	if f.blind != 0 {
		f.n.fs.j.EndWrite(f.blind, 0, journal.Whole, 0) // recordBlind recorded its bytes
	}
	f.n.releaseMode(f.mode, f.writable)
	if f.marked != 0 {
		f.n.fs.j.ReleaseWrite(f.marked)
	}
	return f.errno("release", err)
}

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	if err := unix.Fstat(f.fdv, &st); err != nil {
		return f.errno("getattr", err)
	}
	fillAttr(&out.Attr, &st, f.n.StableAttr().Ino)
	return 0
}

func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	id, err := f.journaled()
	if err != nil {
		return f.errno("fallocate", err)
	}
	var before, after unix.Stat_t
	if err := unix.Fstat(f.fdv, &before); err != nil {
		return f.errno("fallocate", err)
	}
	if id != 0 {
		// Collapse and insert move every byte from off on.
		f.n.fs.j.BeginWrite(id, int64(off), journal.Whole)
		defer f.n.fs.j.EndWrite(id, int64(off), journal.Whole, 0) // the cases below record the bytes
	}
	if err := unix.Fallocate(f.fdv, mode, int64(off), int64(size)); err != nil {
		return f.errno("fallocate", err)
	}
	if id == 0 {
		return 0
	}
	if err := unix.Fstat(f.fdv, &after); err != nil {
		return f.errno("fallocate", err)
	}
	j, o, end := f.n.fs.j, int64(off), int64(off+size)
	switch {
	case mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0:
		// Everything from off on moved.
		if after.Size < before.Size {
			if err := j.Truncate(id, before.Size, after.Size); err != nil {
				return f.errno("fallocate", journalErr(err))
			}
		}
		j.RecordWrite(id, o, after.Size-o)
	case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
		j.RecordWrite(id, o, min(end, after.Size)-o) // now zeros
	}
	if after.Size > before.Size && mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) == 0 {
		j.RecordWrite(id, before.Size, after.Size-before.Size) // grew: zeros
	}
	return 0
}

func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	n, err := unix.Seek(f.fdv, int64(off), int(whence))
	if err != nil {
		return 0, f.errno("lseek", err)
	}
	return uint64(n), 0
}
