package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/browse/download"
	"github.com/syncfs/syncfs/internal/exitcode"
	bytesize "github.com/syncfs/syncfs/internal/size"
)

const getArgs = "[--parallel N] [--s3-endpoint URL] URL LOCALDIR"

// runGet copies a file (to LOCALDIR/NAME) or a directory's contents (into
// LOCALDIR) out of a remote tree, verifying every block, resuming what a
// previous get left, with a progress bar on a terminal.
func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("get", getArgs, stderr)
	parallel := fs.Int("parallel", 8, "8 MiB chunks fetched at once")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return helpOK(err)
	}
	if *parallel < 1 {
		return exitcode.New(exitcode.Usage, "get: --parallel must be at least 1")
	}
	local, err := filepath.Abs(pos[1])
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	logger := stderrLogger("get")
	tree, rel, _, err := openTree(ctx, pos[0], *endpoint, browse.Options{Concurrency: *parallel, Quiet: true}, logger)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return exitcode.New(exitcode.LocalDir, "local dir %s: %v", local, errors.Unwrap(err))
	}
	p := newGetProgress(stderr)
	start := time.Now()
	res, err := download.Get(ctx, tree, rel, local, download.Options{Parallel: *parallel, Progress: p, Logger: logger})
	p.finish()
	if err != nil && !errors.Is(err, download.ErrFailed) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return exitcode.Wrap(exitcode.LocalDir, err)
		}
		return browseErr(fmt.Errorf("%s: %w", pos[0], err))
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "got %d files, %d symlinks, %d directories (%s) into %s: %s fetched, %s already there, %.1fs\n",
		res.Files, res.Symlinks, res.Dirs, bytesize.Format(res.Bytes), local, bytesize.Format(res.Fetched),
		bytesize.Format(res.Kept), secs)
	if err != nil {
		return exitcode.New(exitcode.Error, "%d entries could not be copied (see above); run get again to retry them", res.Failed)
	}
	return nil
}

// getProgress shows a get's progress: a bar redrawn in place on a terminal,
// else one line per file.
type getProgress struct {
	line    *liveLine // only drawn on a terminal: elsewhere a line per file
	start   time.Time
	done    atomic.Int64
	total   atomic.Int64
	files   atomic.Int64
	nfiles  atomic.Int64
	stop    chan struct{}
	stopped chan struct{}
}

func newGetProgress(w io.Writer) *getProgress {
	p := &getProgress{line: newLiveLine(w, 0), start: time.Now()}
	if p.line.tty {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	return p
}

func (p *getProgress) Planned(files int, bytes int64) {
	p.nfiles.Store(int64(files))
	p.total.Store(bytes)
}

func (p *getProgress) Bytes(n int64) { p.done.Add(n) }

func (p *getProgress) Done(path string, size, fetched int64, err error) {
	p.files.Add(1)
	if p.line.tty || err != nil {
		return // errors are logged by get itself
	}
	p.line.mu.Lock()
	defer p.line.mu.Unlock()
	fmt.Fprintf(p.line.w, "got %s (%s, %s fetched)\n", path, bytesize.Format(size), bytesize.Format(fetched))
}

func (p *getProgress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

// draw writes the bar: bytes, percentage, rate, ETA, files.
func (p *getProgress) draw() {
	done, total := p.done.Load(), p.total.Load()
	done = min(done, total)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 0.001)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	p.line.show(fmt.Sprintf("%s %5.1f%%  %s / %s  %s/s  ETA %s  %d/%d files",
		bar(done, total, 24), pct, bytesize.Format(done), bytesize.Format(total), bytesize.Format(int64(rate)), eta(total-done, rate), p.files.Load(), p.nfiles.Load()), "")
}

func (p *getProgress) finish() {
	if !p.line.tty {
		return
	}
	close(p.stop)
	<-p.stopped
	p.draw()
	p.line.end()
}
