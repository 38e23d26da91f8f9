package fs

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// MountOptions are the FUSE-level choices of a writable mount.
type MountOptions struct {
	// FsName is the mount's source in /proc/mounts; the CLI finds a
	// mount's state directory through it.
	FsName string
	// AllowOther lets users other than the mounting one in (the job user
	// is not root). Needs root or user_allow_other in /etc/fuse.conf.
	AllowOther bool
	// NoWriteback turns the kernel writeback cache off (for comparisons).
	NoWriteback bool
	// DirectWrites sends every write(2) on a file opened for writing
	// straight to the daemon (FOPEN_DIRECT_IO): no copy into the FUSE
	// page cache, nothing dirty in the kernel when write(2) returns.
	// Large writes get faster, small ones become a round trip each
	// (docs/design.md, "Direct writes"). It implies NoWriteback.
	DirectWrites bool
	Debug        bool
}

// MaxWrite is the largest WRITE the kernel sends: 1 MiB, so a solver's
// large writes cost one round trip each.
const MaxWrite = 1 << 20

// maxBackground caps the kernel's background requests (writeback WRITEs
// and read-ahead READs) in flight at once. go-fuse's default, 12, is the
// kernel's; with 64, a 2 GiB sequential write kept up to 64 1 MiB WRITEs
// queued and the daemon's readers contended for the /dev/fuse queue lock.
// Side by side (2 GiB dd + fsync, 4 runs each) the throughput was the
// same and the daemon spent 0.79-0.92 CPU s/GB with 64 against 0.64-0.69
// with 12 (one outlier run at 0.85).
const maxBackground = 12

// Mount mounts fsys at mountpoint and serves it in the background. The
// mount is ready when Mount returns.
func Mount(mountpoint string, fsys *FS, mo MountOptions) (*fuse.Server, error) {
	timeout := time.Second
	caps := uint64(fuse.CAP_HANDLE_KILLPRIV_V2) // else a GETXATTR precedes every write
	if mo.DirectWrites {
		mo.NoWriteback = true
		// A shared mmap of a direct-I/O file goes through the page cache;
		// with this the kernel allows it and keeps it coherent with
		// direct writes (it writes back and invalidates the range first).
		caps |= fuse.CAP_DIRECT_IO_ALLOW_MMAP
	}
	if !mo.NoWriteback {
		caps |= fuse.CAP_WRITEBACK_CACHE
	}
	opts := &gofs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		RootStableAttr:  &gofs.StableAttr{Ino: 1, Mode: syscall.S_IFDIR},
		NullPermissions: true, // mode 0000 is 0000, not go-fuse's 0644 default
		MountOptions: fuse.MountOptions{
			AllowOther:        mo.AllowOther,
			Options:           []string{"default_permissions"},
			FsName:            mo.FsName,
			Name:              "syncfs",
			MaxWrite:          MaxWrite,
			MaxBackground:     maxBackground,
			DirectMount:       os.Geteuid() == 0,
			ExtraCapabilities: caps,
			Debug:             mo.Debug,
			// READs of 1 MiB and their header do not fit a pipe of the
			// default maximum size: go-fuse would try a splice, fail,
			// log it, and copy. Copy at once.
			DisableSplice: true,
		},
	}
	fsys.writeback.Store(!mo.NoWriteback)
	raw := &rawFS{RawFileSystem: gofs.NewNodeFS(fsys.Root(), opts)}
	server, err := fuse.NewServer(raw, mountpoint, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	kflags := server.KernelSettings().Flags64()
	if strings.Contains(os.Getenv("SYNCFS_TEST_KERNEL_LACKS"), "direct-io-allow-mmap") {
		kflags &^= fuse.CAP_DIRECT_IO_ALLOW_MMAP // tests: an older kernel
	}
	fsys.writeback.Store(kflags&fuse.CAP_WRITEBACK_CACHE != 0 && !mo.NoWriteback)
	if mo.DirectWrites && kflags&fuse.CAP_DIRECT_IO_ALLOW_MMAP == 0 {
		// Before Linux 6.6 a shared mmap of a direct-I/O file fails
		// (ENODEV): a solver that maps its output would break.
		note := "--direct-writes refused: the kernel lacks FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6), without which a shared mmap of the output fails; writes go through the page cache, each waiting for the daemon (write-through)"
		fsys.writeModeNote.Store(&note)
		fsys.logf("%s", note)
	} else {
		fsys.directWrites.Store(mo.DirectWrites)
	}
	tuneBDI(mountpoint, fsys.b.Path)
	return server, nil
}

// The kernel gives every FUSE mount's backing device info conservative
// defaults that cost a loopback dearly; root may tune them after mounting:
//
//   - read_ahead_kb: 128 KiB means a round trip per 128 KiB of a
//     sequential read; the backing disk's own read-ahead (at least 1 MiB,
//     the largest READ) halves them or better. (Kernel passthrough, which
//     would bypass the daemon, is negotiated only without the writeback
//     cache: one or the other.)
//   - strict_limit, max_ratio: a FUSE mount may hold 1% of the dirty page
//     threshold, so random small writes reach the daemon one page at a
//     time; 20% lets the writeback cache merge them first. fsync(2) and
//     close(2) stay durable; a daemon killed meanwhile loses more of what
//     was never synced (docs/design.md, invariant 1).
//
// Elsewhere (not root) the defaults stay.
const (
	minReadaheadKB = 1024
	dirtyMaxRatio  = 20
)

func tuneBDI(mountpoint, backing string) {
	var st syscall.Stat_t
	if syscall.Stat(mountpoint, &st) != nil {
		return
	}
	bdi := fmt.Sprintf("/sys/class/bdi/%d:%d/", unix.Major(st.Dev), unix.Minor(st.Dev))
	ra := minReadaheadKB
	if kb := backingReadaheadKB(backing); kb > ra {
		ra = kb
	}
	os.WriteFile(bdi+"read_ahead_kb", []byte(fmt.Sprint(ra)), 0o644)
	os.WriteFile(bdi+"strict_limit", []byte("0"), 0o644)
	os.WriteFile(bdi+"max_ratio", []byte(fmt.Sprint(dirtyMaxRatio)), 0o644)
}

// backingReadaheadKB is the read-ahead of the device the backing dir is
// on, 0 if unknown.
func backingReadaheadKB(backing string) int {
	var st syscall.Stat_t
	if syscall.Stat(backing, &st) != nil {
		return 0
	}
	maj, min := unix.Major(st.Dev), unix.Minor(st.Dev)
	for _, p := range []string{
		fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", maj, min),
		fmt.Sprintf("/sys/dev/block/%d:%d/queue/read_ahead_kb", maj, min),
		fmt.Sprintf("/sys/dev/block/%d:%d/../queue/read_ahead_kb", maj, min), // a partition
	} {
		if b, err := os.ReadFile(p); err == nil {
			var kb int
			if _, err := fmt.Sscan(string(b), &kb); err == nil {
				return kb
			}
		}
	}
	return 0
}

// rawFS sits under go-fuse's node bridge to see the one thing the node API
// hides: the kernel's request to clear set-user-ID and set-group-ID on a
// write or an O_TRUNC open by an unprivileged user (HANDLE_KILLPRIV_V2).
type rawFS struct {
	fuse.RawFileSystem
}

func (r *rawFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		r.killSuidgid(cancel, &in.InHeader)
	}
	return r.RawFileSystem.Write(cancel, in, data)
}

func (r *rawFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		r.killSuidgid(cancel, &in.InHeader)
	}
	return r.RawFileSystem.Writev(cancel, in, data)
}

func (r *rawFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := r.RawFileSystem.Open(cancel, in, out)
	if st == fuse.OK && in.Mode&fuse.OPEN_KILL_SUIDGID != 0 {
		r.killSuidgid(cancel, &in.InHeader)
	}
	return st
}

func (r *rawFS) killSuidgid(cancel <-chan struct{}, h *fuse.InHeader) {
	var attr fuse.AttrOut
	if r.GetAttr(cancel, &fuse.GetAttrIn{InHeader: *h}, &attr) != fuse.OK {
		return
	}
	mode := attr.Mode
	clear := uint32(syscall.S_ISUID)
	if mode&syscall.S_IXGRP != 0 {
		clear |= syscall.S_ISGID
	}
	if mode&clear == 0 || mode&syscall.S_IFMT != syscall.S_IFREG {
		return
	}
	in := &fuse.SetAttrIn{}
	in.InHeader = *h
	in.Valid = fuse.FATTR_MODE
	in.Mode = mode &^ clear & 0o7777
	r.SetAttr(cancel, in, &attr)
}
