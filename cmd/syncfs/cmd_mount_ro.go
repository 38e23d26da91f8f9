package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/rofs"
	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
)

// The read-only mount: `syncfs mount --read-only --remote URL MOUNTPOINT`
// (its daemon: daemon.RunReadOnly).

const roMountArgs = "--read-only --remote URL [--cache-dir DIR] [--cache-size SIZE] [--refresh DUR] [--foreground] MOUNTPOINT"

// roConfig is everything a read-only mount needs.
type roConfig struct {
	Mountpoint  string
	Remote      string
	S3Endpoint  string
	CacheDir    string
	CacheSize   int64
	Refresh     time.Duration
	Foreground  bool
	Debug       bool
	LogFile     string
	Passthrough bool
}

// wantsReadOnly says whether mount's arguments ask for a read-only mount,
// before they are parsed (the two kinds take different flags).
func wantsReadOnly(args []string) bool {
	for _, a := range args {
		switch a {
		case "--", "-read-only=false", "--read-only=false":
			return false
		case "-read-only", "--read-only", "-read-only=true", "--read-only=true":
			return true
		}
	}
	return false
}

func parseMountRO(args []string, stderr io.Writer) (*roConfig, error) {
	c := &roConfig{}
	fs := newFlags("mount", roMountArgs, stderr)
	fs.Bool("read-only", true, "mount the remote read-only, to browse results")
	fs.StringVar(&c.Remote, "remote", "", "remote URL: file:///abs/path or s3://bucket/prefix, or a directory inside the tree (required)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	fs.StringVar(&c.CacheDir, "cache-dir", defaultCacheDir(), "directory of the block cache (shared with other mounts and processes)")
	size := fs.String("cache-size", "10GiB", "size limit of the block cache; least recently used blocks go first")
	fs.DurationVar(&c.Refresh, "refresh", rofs.DefaultRefresh, "how stale listings and attributes may be; open files are polled this often for new versions")
	fs.BoolVar(&c.Foreground, "foreground", false, "stay in the foreground and log to stderr")
	fs.BoolVar(&c.Passthrough, "passthrough", true, "let the kernel read quiet files whose whole version is cached, as local files (needs root)")
	fs.BoolVar(&c.Debug, "debug", false, "log every FUSE request")
	fs.StringVar(&c.LogFile, "log", "", "daemon log file (default: syncfs.log in the runtime dir under the cache dir; stderr with --foreground)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return nil, err
	}
	c.Mountpoint = pos[0]
	if c.Remote == "" {
		return nil, exitcode.New(exitcode.Usage, "mount: --remote URL is required (file:///abs/path or s3://bucket/prefix)")
	}
	if c.CacheSize, err = bytesize.Parse(*size); err != nil {
		return nil, exitcode.New(exitcode.Usage, "mount: --cache-size: %v", err)
	}
	if c.Refresh < 100*time.Millisecond {
		return nil, exitcode.New(exitcode.Usage, "mount: --refresh %v is too short (at least 100ms)", c.Refresh)
	}
	for _, p := range []*string{&c.Mountpoint, &c.CacheDir, &c.LogFile} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, exitcode.Wrap(exitcode.Usage, err)
			}
		}
	}
	return c, nil
}

// runDir is the daemon's runtime directory: one per mountpoint.
func (c *roConfig) runDir() string {
	sum := sha256.Sum256([]byte(c.Mountpoint))
	return filepath.Join(c.CacheDir, "run", hex.EncodeToString(sum[:8]))
}

// daemonConfig is what the daemon of c needs.
func (c *roConfig) daemonConfig() daemon.ReadOnlyConfig {
	return daemon.ReadOnlyConfig{Mountpoint: c.Mountpoint, Remote: c.Remote, RunDir: c.runDir(), CacheDir: c.CacheDir,
		CacheSize: c.CacheSize, Refresh: c.Refresh, Debug: c.Debug, LogFile: c.LogFile, Passthrough: c.Passthrough,
		OpenTree: func(ctx context.Context, opts browse.Options, logger *log.Logger) (*browse.Tree, string, browse.Entry, error) {
			return openTree(ctx, c.Remote, c.S3Endpoint, opts, logger)
		}}
}

func (c *roConfig) args(logPath string) []string {
	a := []string{"mount", "--read-only", "--foreground", "--log", logPath, "--remote", c.Remote,
		"--cache-dir", c.CacheDir, "--cache-size", strconv.FormatInt(c.CacheSize, 10), "--refresh", c.Refresh.String(),
		"--passthrough=" + strconv.FormatBool(c.Passthrough)}
	if c.S3Endpoint != "" {
		a = append(a, "--s3-endpoint", c.S3Endpoint)
	}
	if c.Debug {
		a = append(a, "--debug")
	}
	return append(a, "--", c.Mountpoint)
}

func runMountRO(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseMountRO(args, stderr)
	if err != nil {
		return helpOK(err)
	}
	if err := checkMountpoint(c.Mountpoint); err != nil {
		return err
	}
	if err := checkDirWritable("cache dir", c.CacheDir, true); err != nil {
		return err
	}
	if within(c.CacheDir, c.Mountpoint) {
		return exitcode.New(exitcode.Usage, "the cache dir %s must not be inside the mountpoint %s", c.CacheDir, c.Mountpoint)
	}
	if err := os.MkdirAll(c.runDir(), 0o700); err != nil {
		return exitcode.New(exitcode.LocalDir, "runtime dir %s: %v", c.runDir(), errors.Unwrap(err))
	}
	if c.Foreground {
		return daemon.RunReadOnly(ctx, c.daemonConfig(), readyFromEnv(), stderr)
	}
	logPath := c.LogFile
	if logPath == "" {
		logPath = filepath.Join(c.runDir(), "syncfs.log")
	}
	if err := launchDaemon(ctx, logPath, c.args(logPath)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mounted %s read-only (remote %s, cache %s)\n", c.Mountpoint, c.Remote, c.CacheDir)
	return nil
}

// launchDaemon re-executes this binary with args as a daemon detached
// from the caller's terminal, pipes and process group (setsid; stdio to
// logPath), and returns once the daemon says, through the readiness pipe,
// that its mount is up (nil) or why it is not. It is startDaemon's
// launch half, for daemons other than the writable mount's.
func launchDaemon(ctx context.Context, logPath string, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return exitcode.New(exitcode.LocalDir, "log file %s: %v", logPath, err)
	}
	defer logf.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), readyFdEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("starting the daemon: %w", err)
	}
	pw.Close()
	defer pr.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(pr).ReadString('\n')
		line <- s
	}()
	var s string
	select {
	case s = <-line:
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		return ctx.Err()
	}
	var m readyMsg
	if s == "" || json.Unmarshal([]byte(s), &m) != nil {
		cmd.Wait()
		return fmt.Errorf("the daemon exited before the mount was ready: %s (log: %s)", lastLine(logPath), logPath)
	}
	if m.Code != exitcode.OK {
		cmd.Wait()
		return exitcode.New(m.Code, "%s", m.Error)
	}
	cmd.Process.Release()
	return nil
}
