package rofs

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// MountOptions are the FUSE-level choices of a read-only mount.
type MountOptions struct {
	// FsName is the mount's source in /proc/mounts: "syncfs:<dir>",
	// where dir holds the daemon's control socket.
	FsName string
	// AllowOther lets other users in; permissions are then checked by
	// the kernel against the modes and owners the remote records.
	AllowOther bool
	// KernelWritable leaves out the kernel's read-only flag (tests use
	// it to check that the daemon refuses writes by itself).
	KernelWritable bool
	Debug          bool
}

// maxIO is the largest READ the kernel sends and its read-ahead.
const maxIO = 1 << 20

// Mount mounts fsys at mountpoint and serves it in the background, with
// the poller of open files. The mount is ready when Mount returns.
func Mount(mountpoint string, fsys *FS, mo MountOptions) (*fuse.Server, error) {
	refresh := fsys.opts.Refresh
	flags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY)
	options := []string{"ro"}
	if mo.KernelWritable {
		flags &^= syscall.MS_RDONLY
		options = nil
	}
	if mo.AllowOther {
		options = append(options, "default_permissions")
	}
	opts := &gofs.Options{
		EntryTimeout:    &refresh,
		AttrTimeout:     &refresh,
		NegativeTimeout: &refresh,
		RootStableAttr:  &gofs.StableAttr{Ino: uint64(fsys.opts.Root), Mode: syscall.S_IFDIR},
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			AllowOther:         mo.AllowOther,
			Options:            options,
			FsName:             mo.FsName,
			Name:               "syncfs",
			MaxWrite:           maxIO, // also max_read and the largest READ
			MaxReadAhead:       maxIO,
			MaxBackground:      64,
			DirectMount:        os.Geteuid() == 0,
			DirectMountFlags:   flags,
			DisableReadDirPlus: true, // ls needs names only; ls -l stats anyway
			// Reads return bytes, never an fd to splice from; go-fuse's
			// splice attempt would only cost a pipe write per READ (and
			// fail, logging, when a 1 MiB READ and its header outgrow
			// pipe-max-size).
			DisableSplice: true,
			Debug:         mo.Debug,
		},
	}
	server, err := fuse.NewServer(gofs.NewNodeFS(fsys.Root(), opts), mountpoint, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	raiseReadahead(mountpoint)
	// Passthrough needs a disk cache to hold images, a kernel that
	// agreed to it, and CAP_SYS_ADMIN to register backing files.
	fsys.passthrough.Store(!fsys.opts.NoPassthrough && fsys.tree.Cache() != nil && os.Geteuid() == 0 &&
		server.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0)
	stop := make(chan struct{})
	go fsys.poll(stop)
	go func() { server.Wait(); close(stop) }()
	return server, nil
}

// raiseReadahead lets the kernel read ahead 1 MiB instead of the 128 KiB
// default, so that a sequential reader keeps several large READs in
// flight. Best effort: it needs root, and a failure only costs speed.
func raiseReadahead(mountpoint string) {
	var st unix.Stat_t
	if unix.Stat(mountpoint, &st) != nil {
		return
	}
	p := filepath.Join("/sys/class/bdi", fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)), "read_ahead_kb")
	os.WriteFile(p, []byte(fmt.Sprint(maxIO>>10)), 0)
}
