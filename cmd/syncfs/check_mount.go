package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"github.com/syncfs/syncfs/remote/backend"
	"golang.org/x/sys/unix"
)

// checkMount finds what would make the mount fail or misbehave before
// anything is started, and says so in one line with the exit code of its
// class (docs/cli.md).
func checkMount(c *mountConfig) error {
	if err := checkURL(c.Remote); err != nil {
		return err
	}
	if err := checkMountpoint(c.Mountpoint); err != nil {
		return err
	}
	if err := checkDirWritable("backing dir", c.Backing, false); err != nil {
		return err
	}
	if err := checkDirWritable("state dir", c.State, true); err != nil {
		return err
	}
	for _, p := range []struct{ a, b, what string }{
		{c.Mountpoint, c.Backing, "the mountpoint and the backing dir"},
		{c.State, c.Backing, "the state dir and the backing dir"},
		{c.State, c.Mountpoint, "the state dir and the mountpoint"},
	} {
		if within(p.a, p.b) || within(p.b, p.a) {
			return exitcode.New(exitcode.Usage, "%s must not contain each other (%s, %s)", p.what, p.a, p.b)
		}
	}
	return nil
}

// checkURL rejects what cannot be a remote URL; opening and probing the
// store happens in the daemon, which must hold it.
func checkURL(u string) error {
	if _, err := backend.Parse(u); err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	return nil
}

func within(child, parent string) bool {
	rel, err := filepath.Rel(parent, child)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func checkMountpoint(mnt string) error {
	if m, ok, err := mountinfo.Find(mnt); err == nil && ok {
		if state, ok := m.StateDir(); ok {
			return exitcode.New(exitcode.Mountpoint, "%s is already a syncfs mount (state dir %s); unmount it first", mnt, state)
		}
		if m.IsSyncfs() {
			return exitcode.New(exitcode.Mountpoint, "%s is already a syncfs mount; unmount it first", mnt)
		}
		return exitcode.New(exitcode.Mountpoint, "%s is already a mount point (%s from %s); pick an empty directory", mnt, m.FSType, m.Source)
	}
	st, err := os.Stat(mnt)
	if errors.Is(err, os.ErrNotExist) {
		return exitcode.New(exitcode.Mountpoint, "mountpoint %s does not exist; create an empty directory there first", mnt)
	}
	if err != nil {
		return exitcode.New(exitcode.Mountpoint, "mountpoint %s: %v", mnt, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return exitcode.New(exitcode.Mountpoint, "mountpoint %s is not a directory", mnt)
	}
	f, err := os.Open(mnt)
	if err != nil {
		return exitcode.New(exitcode.Mountpoint, "mountpoint %s: %v", mnt, errors.Unwrap(err))
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return exitcode.New(exitcode.Mountpoint, "mountpoint %s is not empty (it has %s); the mount would hide those files: use an empty directory", mnt, names[0])
	}
	return nil
}

// checkDirWritable checks that dir exists (or, with create, can be made)
// and that a file can be created in it.
func checkDirWritable(what, dir string, create bool) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) && create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return exitcode.New(exitcode.LocalDir, "%s %s cannot be created: %v", what, dir, errors.Unwrap(err))
		}
		st, err = os.Stat(dir)
	}
	if errors.Is(err, os.ErrNotExist) {
		return exitcode.New(exitcode.LocalDir, "%s %s does not exist; create it first", what, dir)
	}
	if err != nil {
		return exitcode.New(exitcode.LocalDir, "%s %s: %v", what, dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return exitcode.New(exitcode.LocalDir, "%s %s is not a directory", what, dir)
	}
	// access(2) says yes to root on a read-only file system; creating a
	// file is the only honest test.
	f, err := os.CreateTemp(dir, ".syncfs-probe-*")
	if err != nil {
		why := errors.Unwrap(err)
		if errors.Is(err, unix.EROFS) {
			why = fmt.Errorf("read-only file system")
		}
		return exitcode.New(exitcode.LocalDir, "%s %s is not writable: %v", what, dir, why)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
