package fs

import (
	"fmt"
	"os"
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
	Debug       bool
}

// MaxWrite is the largest WRITE the kernel sends: 1 MiB, so a solver's
// large writes cost one round trip each.
const MaxWrite = 1 << 20

// Mount mounts fsys at mountpoint and serves it in the background. The
// mount is ready when Mount returns.
func Mount(mountpoint string, fsys *FS, mo MountOptions) (*fuse.Server, error) {
	timeout := time.Second
	caps := uint64(fuse.CAP_HANDLE_KILLPRIV_V2) // else a GETXATTR precedes every write
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
			MaxBackground:     64,
			DirectMount:       os.Geteuid() == 0,
			ExtraCapabilities: caps,
			Debug:             mo.Debug,
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
	fsys.writeback.Store(server.KernelSettings().Flags64()&fuse.CAP_WRITEBACK_CACHE != 0 && !mo.NoWriteback)
	raiseReadahead(mountpoint)
	return server, nil
}

// readaheadKB is the mount's read-ahead: reads of 1 MiB (MaxWrite) instead
// of the kernel's default 128 KiB halve the round trips of a sequential
// reader. (Kernel passthrough, which would bypass them, cannot be used
// with the writeback cache: the kernel negotiates one or the other.)
const readaheadKB = 1024

// raiseReadahead sets the read-ahead of the mount's backing device info,
// which only root may do; elsewhere the default stays.
func raiseReadahead(mountpoint string) {
	var st syscall.Stat_t
	if syscall.Stat(mountpoint, &st) != nil {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(p, []byte(fmt.Sprint(readaheadKB)), 0o644)
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
