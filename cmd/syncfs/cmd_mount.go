package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/remote"
)

// mountConfig is everything a writable mount or a watch needs: the
// daemon's Config, and how the command starts it. The foreground daemon
// gets it from the same flags as the command.
type mountConfig struct {
	daemon.Config
	Foreground bool
	S3Endpoint string
}

// daemonConfig completes the daemon's Config with how it opens the remote
// and, for the crash tests, where it is killed.
func (c *mountConfig) daemonConfig() daemon.Config {
	dc := c.Config
	dc.OpenStore = func(ctx context.Context) (remote.Store, error) { return openRemote(ctx, c.Remote, c.S3Endpoint) }
	dc.Failpoint = failpointFromEnv()
	return dc
}

const mountArgs = "--backing DIR --remote URL [--state DIR] [--exclude GLOB]... [--foreground] MOUNTPOINT"

func parseMount(args []string, stderr io.Writer) (*mountConfig, error) {
	c := &mountConfig{}
	fs := newFlags("mount", mountArgs, stderr)
	fs.StringVar(&c.Backing, "backing", "", "backing directory: where the bytes land, on local disk (required)")
	fs.StringVar(&c.Remote, "remote", "", "remote URL: file:///abs/path or s3://bucket/prefix (required)")
	fs.StringVar(&c.State, "state", "", "state directory for the journal and control socket (default: .NAME.syncfs beside the backing dir)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	fs.Var((*multiFlag)(&c.Excludes), "exclude", "never ship names matching this glob (repeatable; e.g. '*.tmp', '*@*.sim')")
	fs.BoolVar(&c.Force, "force", false, "take over the remote prefix from a mount that holds it (only if that mount is dead)")
	fs.BoolVar(&c.Foreground, "foreground", false, "stay in the foreground and log to stderr")
	fs.BoolVar(&c.Passthrough, "passthrough", true, "serve reads of read-only opens with kernel passthrough where the kernel allows")
	fs.BoolVar(&c.Writeback, "writeback-cache", true, "use the kernel writeback cache")
	fs.BoolVar(&c.Direct, "direct-writes", false, "send each write straight to the backing file, bypassing the kernel page cache: faster for writers of large blocks (1 MiB), much slower for small writes; turns the writeback cache off")
	fs.BoolVar(&c.Debug, "debug", false, "log every FUSE request")
	fs.StringVar(&c.LogFile, "log", "", "daemon log file (default: STATE/syncfs.log; stderr with --foreground)")
	fs.DurationVar(&c.UploadDelay, "upload-delay", 2*time.Second, "ship a file still open for write once it went this long without a write (closed files ship at once)")
	fs.DurationVar(&c.MaxAge, "max-age", 30*time.Second, "never hold a change longer than this before shipping it")
	fs.StringVar(&c.Level, "zstd-level", "fastest", "zstd level: fastest, default, better or best")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at this address (e.g. 127.0.0.1:9101)")
	fs.BoolVar(&c.Upload, "upload", true, "ship changes; with --upload=false the mount only journals them (a later mount or syncfs recover ships them)")
	fs.DurationVar(&c.PublishEvery, "publish-every", 0, "also publish plain objects of the files under the remote's files/ prefix (as syncfs publish) this often, files written in the last --upload-delay excepted (0: never)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return nil, err
	}
	if err := fs.positive("upload-delay", "max-age"); err != nil {
		return nil, err
	}
	c.Mountpoint = pos[0]
	if c.Direct {
		if fs.given("writeback-cache") && c.Writeback {
			return nil, exitcode.New(exitcode.Usage, "mount: --direct-writes bypasses the writeback cache: drop --writeback-cache=true")
		}
		c.Writeback = false
	}
	if c.Backing == "" {
		return nil, exitcode.New(exitcode.Usage, "mount: --backing DIR is required (the local directory the bytes land in)")
	}
	if c.Remote == "" {
		return nil, exitcode.New(exitcode.Usage, "mount: --remote URL is required (file:///abs/path or s3://bucket/prefix)")
	}
	for _, p := range []*string{&c.Mountpoint, &c.Backing, &c.State, &c.LogFile} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, exitcode.Wrap(exitcode.Usage, err)
			}
		}
	}
	if c.State == "" {
		dir, base := filepath.Split(c.Backing)
		c.State = filepath.Join(dir, "."+base+".syncfs")
	}
	return c, nil
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if wantsReadOnly(args) {
		return runMountRO(ctx, args, stdout, stderr) // cmd_mount_ro.go
	}
	c, err := parseMount(args, stderr)
	if err != nil {
		return helpOK(err)
	}
	if err := checkMount(c); err != nil {
		return err
	}
	if c.Foreground {
		return daemon.Run(ctx, c.daemonConfig(), readyFromEnv(), stderr)
	}
	return startDaemon(ctx, c, stdout)
}

// args turns c back into the daemon's command line, with every path
// absolute (the daemon runs in /).
func (c *mountConfig) args(logPath string) []string {
	if c.Watch {
		a := []string{"watch", "--foreground", "--log", logPath, "--remote", c.Remote, "--state", c.State,
			"--upload-delay", c.UploadDelay.String(), "--max-age", c.MaxAge.String(), "--zstd-level", c.Level}
		for _, e := range c.Excludes {
			a = append(a, "--exclude", e)
		}
		if c.S3Endpoint != "" {
			a = append(a, "--s3-endpoint", c.S3Endpoint)
		}
		if c.Force {
			a = append(a, "--force")
		}
		if c.MetricsAddr != "" {
			a = append(a, "--metrics-addr", c.MetricsAddr)
		}
		return append(a, "--", c.Backing)
	}
	a := []string{"mount", "--foreground", "--log", logPath,
		"--backing", c.Backing, "--remote", c.Remote, "--state", c.State,
		"--passthrough=" + strconv.FormatBool(c.Passthrough),
		"--writeback-cache=" + strconv.FormatBool(c.Writeback),
		"--direct-writes=" + strconv.FormatBool(c.Direct)}
	for _, e := range c.Excludes {
		a = append(a, "--exclude", e)
	}
	a = append(a, "--upload-delay", c.UploadDelay.String(), "--max-age", c.MaxAge.String(), "--zstd-level", c.Level,
		"--upload="+strconv.FormatBool(c.Upload))
	if c.PublishEvery > 0 {
		a = append(a, "--publish-every", c.PublishEvery.String())
	}
	if c.MetricsAddr != "" {
		a = append(a, "--metrics-addr", c.MetricsAddr)
	}
	if c.S3Endpoint != "" {
		a = append(a, "--s3-endpoint", c.S3Endpoint)
	}
	if c.Force {
		a = append(a, "--force")
	}
	if c.Debug {
		a = append(a, "--debug")
	}
	return append(a, "--", c.Mountpoint)
}

// The daemon tells the command that started it whether the mount is up
// through a pipe (fd 3), with one JSON line: {"code":0} or
// {"code":N,"error":"..."}. The command exits only then, so that a Slurm
// prolog that runs `syncfs mount` and then the job never lets the job
// write into a plain directory.
const readyFdEnv = "SYNCFS_READY_FD"

type readyMsg struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// readyFromEnv reports the daemon's readiness on the pipe its starter
// gave it, if any.
func readyFromEnv() daemon.Ready {
	n, err := strconv.Atoi(os.Getenv(readyFdEnv))
	if err != nil || n < 3 {
		return func(error) {}
	}
	os.Unsetenv(readyFdEnv)
	f := os.NewFile(uintptr(n), "ready")
	return func(err error) {
		if f == nil {
			return
		}
		m := readyMsg{Code: exitcode.Of(err)}
		if err != nil {
			m.Error = err.Error()
		}
		json.NewEncoder(f).Encode(m)
		f.Close()
		f = nil
	}
}

// startDaemon re-executes this binary as the mount's daemon, detached from
// the caller's terminal, pipes and process group (setsid; stdio to the log
// file), so that a Slurm prolog that starts it is not held open by it
// (launchDaemon).
func startDaemon(ctx context.Context, c *mountConfig, stdout io.Writer) error {
	if err := os.MkdirAll(c.State, 0o700); err != nil {
		return exitcode.New(exitcode.LocalDir, "state dir %s: %v", c.State, err)
	}
	logPath := c.LogFile
	if logPath == "" {
		logPath = filepath.Join(c.State, "syncfs.log")
	}
	if err := launchDaemon(ctx, logPath, c.args(logPath)); err != nil {
		return err
	}
	if c.Watch {
		fmt.Fprintf(stdout, "watching %s (remote %s, state %s)\n", c.Backing, c.Remote, c.State)
		return nil
	}
	fmt.Fprintf(stdout, "mounted %s (backing %s, remote %s, state %s)\n", c.Mountpoint, c.Backing, c.Remote, c.State)
	return nil
}

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 || lines[len(lines)-1] == "" {
		return "no message"
	}
	return lines[len(lines)-1]
}

// errTimeout is what waiting functions return when time runs out.
var errTimeout = errors.New("timed out")

// waitExit waits until process pid has exited, without polling: a pidfd
// becomes readable when the process ends.
func waitExit(pid int, timeout time.Duration) error {
	fd, err := pidfdOpen(pid)
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	defer syscall.Close(fd)
	return pollReadable(fd, timeout)
}
