package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/sys/unix"

	"github.com/syncfs/syncfs/daemon"
	"github.com/syncfs/syncfs/internal/control"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
	"github.com/syncfs/syncfs/uploader"
)

const flushArgs = "[--wait [--verify] [--publish]] [--timeout DUR] [--json] MOUNTPOINT"

func runFlush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("flush", flushArgs, stderr)
	wait := fs.Bool("wait", false, "wait until the remote holds every change made before the call (exit 3 on timeout)")
	timeout := fs.Duration("timeout", 0, "with --wait: give up after this long (0: never)")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	verify := fs.Bool("verify", false, "with --wait: then audit the remote against the journal (listings and manifests, no file data); ship again whatever it lost; exit 1 if it still lacks something")
	pub := fs.Bool("publish", false, "with --wait: then publish a plain copy of every file under the remote's files/ prefix (as syncfs publish)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if err := fs.positive("timeout"); err != nil {
		return err
	}
	if *verify && !*wait {
		return exitcode.New(exitcode.Usage, "flush: --verify needs --wait (the audit runs once the remote holds everything)")
	}
	if *pub && !*wait {
		return exitcode.New(exitcode.Usage, "flush: --publish needs --wait (publishing follows the flush)")
	}
	if err := flush(ctx, pos[0], flushOptions{wait: *wait, timeout: *timeout, json: *asJSON, verify: *verify}, stdout); err != nil || !*pub {
		return err
	}
	return publishTree(ctx, publishOptions{dir: pos[0], json: *asJSON}, stdout)
}

type flushOptions struct {
	wait    bool
	timeout time.Duration
	json    bool
	verify  bool // audit the remote once settled (flush --wait --verify)
}

// auditRounds bounds flush --verify's audit, re-ship, audit cycles: a
// remote that loses what was just shipped again is not going to settle.
const auditRounds = 3

// flush asks the daemon of mnt to ship everything written so far, and with
// wait follows it until the remote holds it all.
func flush(ctx context.Context, mnt string, o flushOptions, stdout io.Writer) error {
	wait, timeout, asJSON := o.wait, o.timeout, o.json
	var audit *uploader.AuditReport
	c, err := clientFor(mnt)
	if err != nil {
		return err
	}
	// Writes still in the kernel's page cache (writeback cache, mmap) go
	// to the daemon first, so that they are before the barrier. (For a
	// watched directory this makes its pending writes reach the disk.)
	if fd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		unix.Syncfs(fd)
		unix.Close(fd)
	}
	var p daemon.FlushProgress
	if err := c.Do(ctx, http.MethodPost, "/flush", nil, &p); err != nil {
		return deadDaemon(mnt, c, err)
	}
	if !wait {
		if asJSON {
			return json.NewEncoder(stdout).Encode(p)
		}
		fmt.Fprintf(stdout, "flush of %s started\n", mnt)
		return nil
	}
	start := time.Now()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	show := newProgress(stdout, asJSON)
	rounds := 0
	finish := func() error { // settled (and audited, with --verify)
		show.done()
		if asJSON {
			return printFlushJSON(stdout, p, start, false, audit)
		}
		if audit != nil {
			fmt.Fprintln(stdout, audit)
		}
		fmt.Fprintf(stdout, "flushed %s in %v\n", mnt, time.Since(start).Round(time.Millisecond))
		return nil
	}
	for {
		var q daemon.FlushProgress
		err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/flush?barrier=%d&wait=1s", p.Barrier), nil, &q)
		if err != nil {
			if ctx.Err() != nil {
				show.done()
				// The latest figures, not those of the last answer
				// before the deadline (maybe none but the barrier).
				qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := c.Do(qctx, http.MethodGet, fmt.Sprintf("/flush?barrier=%d&wait=0s", p.Barrier), nil, &q); err == nil {
					p = q
				}
				cancel()
				if asJSON {
					printFlushJSON(stdout, p, start, true, audit)
				}
				msg := fmt.Sprintf("flush of %s timed out after %v with %s still pending", mnt, time.Since(start).Round(time.Second), pendingString(p))
				if p.RemoteTrouble != nil {
					msg += fmt.Sprintf("; %v; %d requests retried so far", p.RemoteTrouble, p.Retries)
				}
				return exitcode.New(exitcode.Timeout, "%s", msg)
			}
			return deadDaemon(mnt, c, err)
		}
		p = q
		switch {
		case p.Settled && o.verify && (audit == nil || audit.Lost()):
			rounds++
			audit = &uploader.AuditReport{}
			if err := c.Do(ctx, http.MethodPost, "/audit", nil, audit); err != nil {
				show.done()
				if ctx.Err() != nil {
					return exitcode.New(exitcode.Timeout, "flush of %s timed out after %v during the remote audit", mnt, time.Since(start).Round(time.Second))
				}
				if errors.Is(err, control.ErrNoDaemon) {
					return deadDaemon(mnt, c, err)
				}
				return exitcode.New(exitcode.Error, "flush of %s: remote audit: %v", mnt, err)
			}
			if !audit.Lost() {
				return finish()
			}
			show.done()
			if rounds >= auditRounds {
				if asJSON {
					printFlushJSON(stdout, p, start, false, audit)
				}
				return exitcode.New(exitcode.Error, "flush of %s: the remote keeps losing what is shipped to it (%s)", mnt, audit)
			}
			if !asJSON {
				fmt.Fprintf(stdout, "%s; shipping again\n", audit)
			}
			// What the audit re-journaled is after the old barrier.
			if err := c.Do(ctx, http.MethodPost, "/flush", nil, &p); err != nil {
				return deadDaemon(mnt, c, err)
			}
			continue
		case p.Settled:
			return finish()
		case p.Error != "":
			show.done()
			if asJSON {
				printFlushJSON(stdout, p, start, false, audit)
			}
			return exitcode.New(exitcode.Error, "flush of %s failed with %s pending: %s", mnt, pendingString(p), p.Error)
		}
		show.update(p)
	}
}

// printFlushJSON prints the outcome of flush --json; a timeout prints it
// too (with "timed_out"), so that a script reads what was pending.
func printFlushJSON(w io.Writer, p daemon.FlushProgress, start time.Time, timedOut bool, audit *uploader.AuditReport) error {
	return json.NewEncoder(w).Encode(struct {
		daemon.FlushProgress
		TimedOut bool                  `json:"timed_out"`
		Seconds  float64               `json:"seconds"`
		Audit    *uploader.AuditReport `json:"audit,omitempty"`
	}{p, timedOut, time.Since(start).Seconds(), audit})
}

// pendingString says what a flush still waits for: bytes, operations
// (creates, renames, deletes, attribute changes), or both.
func pendingString(p daemon.FlushProgress) string {
	ops := fmt.Sprintf("%d operation", p.PendingOps)
	if p.PendingOps != 1 {
		ops += "s"
	}
	switch {
	case p.PendingOps == 0:
		return bytesize.Format(p.PendingBytes)
	case p.PendingBytes == 0:
		return ops
	}
	return bytesize.Format(p.PendingBytes) + " and " + ops
}

// progress shows a flush: a bar redrawn in place on a terminal, a plain
// line every 5 seconds otherwise, nothing for --json.
type progress struct {
	line  *liveLine
	quiet bool
	start time.Time
	first int64
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{line: newLiveLine(w, 5*time.Second), quiet: quiet, start: time.Now(), first: -1}
}

func (p *progress) update(q daemon.FlushProgress) {
	if p.quiet {
		return
	}
	if p.first < 0 {
		p.first = q.UploadedBytes
	}
	el := time.Since(p.start).Seconds()
	rate := float64(q.UploadedBytes-p.first) / max(el, 0.001)
	line := fmt.Sprintf("%s pending, %s/s, ETA %s", pendingString(q), bytesize.Format(int64(rate)), eta(q.PendingBytes, rate))
	if q.PendingBytes == 0 {
		line = pendingString(q) + " pending" // no bytes: a rate and an ETA say nothing
	}
	if q.RemoteTrouble != nil {
		line += fmt.Sprintf("; retrying (%d so far): %s %s: %s", q.Retries, q.RemoteTrouble.Op, q.RemoteTrouble.Key, q.RemoteTrouble.Error)
	}
	done := q.UploadedBytes - p.first
	p.line.show(bar(done, done+q.PendingBytes, 30)+" "+line, "flush: "+line)
}

func (p *progress) done() { p.line.end() }

// deadDaemon turns "nobody answers on the control socket" into what it
// means for the user: the daemon died, and how to ship what it left.
func deadDaemon(mnt string, c *control.Client, err error) error {
	if !errors.Is(err, control.ErrNoDaemon) {
		return err
	}
	return exitcode.New(exitcode.Mountpoint, "the syncfs daemon of %s is not running (it died?); its journal in %s keeps everything pending: run syncfs unmount %s, then syncfs recover --state %s --backing DIR --remote URL", mnt, c.Dir, mnt, c.Dir)
}
