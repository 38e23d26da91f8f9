package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"time"

	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/mountinfo"
	"golang.org/x/sys/unix"
)

func runUnmount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unmount", "[--flush] [--timeout DUR] MOUNTPOINT", stderr)
	withFlush := fs.Bool("flush", false, "first ship everything (as flush --wait); if that fails or times out, do not unmount")
	timeout := fs.Duration("timeout", 0, "with --flush: how long the flush may take (0: no limit); the daemon gets 5 minutes to exit")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if err := fs.positive("timeout"); err != nil {
		return err
	}
	mnt := pos[0]
	m, ok, err := mountinfo.Find(mnt)
	if err != nil {
		return err
	}
	if !ok {
		// A watched directory stops the same way; anything else is not
		// mounted, which is fine: an epilog may run this twice, or after
		// a crash.
		if c, err := clientFor(mnt); err == nil {
			return stopDaemon(ctx, c, mnt, *withFlush, *timeout, stdout)
		}
		fmt.Fprintf(stdout, "%s is not mounted\n", mnt)
		return nil
	}
	state, ok := m.StateDir()
	if !ok {
		return exitcode.New(exitcode.Mountpoint, "%s is not a writable syncfs mount (it is %s from %s)", mnt, m.FSType, m.Source)
	}
	c := &control.Client{Dir: state}
	if *withFlush {
		// Exactly flush --wait: the remote must hold everything before
		// the mount goes; on a timeout or a failure the mount stays, so
		// that nothing pending is stranded behind an unmounted daemon.
		if err := flush(ctx, mnt, flushOptions{wait: true, timeout: *timeout}, stdout); err != nil {
			return fmt.Errorf("not unmounting %s: %w", mnt, err)
		}
	}
	var out struct {
		PID int `json:"pid"`
	}
	err = c.Do(ctx, http.MethodPost, "/unmount", nil, &out)
	if errors.Is(err, control.ErrNoDaemon) {
		// The daemon is dead and left its mount behind (every access
		// fails with ENOTCONN). Detach it; the journal and the backing
		// dir keep everything for `syncfs recover` or the next mount.
		if derr := detach(m.Point); derr != nil {
			return fmt.Errorf("%v; and detaching the dead mount failed: %v", err, derr)
		}
		fmt.Fprintf(stdout, "unmounted %s (its daemon was gone; state in %s)\n", mnt, state)
		return nil
	}
	if err != nil {
		return err
	}
	if err := waitExit(out.PID, 5*time.Minute); err != nil {
		return exitcode.New(exitcode.Timeout, "unmounted %s but daemon pid %d did not exit within 5m", mnt, out.PID)
	}
	fmt.Fprintf(stdout, "unmounted %s\n", mnt)
	return nil
}

func detach(point string) error {
	if err := unix.Unmount(point, unix.MNT_DETACH); err == nil {
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", "-z", point).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z: %v: %s", err, out)
	}
	return nil
}

// stopDaemon stops a syncfs watch, after a flush if asked.
func stopDaemon(ctx context.Context, c *control.Client, dir string, withFlush bool, timeout time.Duration, stdout io.Writer) error {
	if withFlush {
		if err := flush(ctx, dir, flushOptions{wait: true, timeout: timeout}, stdout); err != nil {
			return fmt.Errorf("not stopping the watch of %s: %w", dir, err)
		}
	}
	var out struct {
		PID int `json:"pid"`
	}
	if err := c.Do(ctx, http.MethodPost, "/unmount", nil, &out); err != nil {
		return err
	}
	if err := waitExit(out.PID, 5*time.Minute); err != nil {
		return exitcode.New(exitcode.Timeout, "daemon pid %d did not exit within 5m", out.PID)
	}
	fmt.Fprintf(stdout, "stopped watching %s\n", dir)
	return nil
}
