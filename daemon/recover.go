package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/syncfs/syncfs/internal/exitcode"
	"github.com/syncfs/syncfs/internal/size"
	"github.com/syncfs/syncfs/journal"
	"github.com/syncfs/syncfs/uploader"
)

// RecoverReport is what Recover shipped.
type RecoverReport struct {
	UploadedBytes int64 // file bytes shipped
	SentBytes     int64 // bytes put, after compression
	Compared      int64 // files compared block by block with the remote
	Changed       int64 // ...of which differed
	Elapsed       time.Duration
}

// Recover ships what a journal holds without mounting: for an epilog on a
// node whose daemon died. It compares every file the dead daemon had open
// for write with the remote (block hashes, shipping only what differs),
// scans the backing dir for changes around the journal, ships everything
// and returns once the remote holds it; ctx's end (a timeout) gives an
// exitcode.Timeout error that says what is still pending. progress, if
// not nil, is called about once a second while it waits.
func Recover(ctx context.Context, c Config, logger *log.Logger, progress func(FlushProgress)) (*RecoverReport, error) {
	c.Upload = true
	started := make(chan struct{})
	close(started) // nothing to be ready for: uploads start at once
	d := &daemon{c: &c, log: logger, recovered: make(chan struct{}), started: started}
	j, err := journal.Open(c.State, journal.Options{Holder: fmt.Sprintf("syncfs recover pid %d", os.Getpid())})
	switch {
	case errors.Is(err, journal.ErrLocked):
		return nil, exitcode.Wrap(exitcode.Busy, fmt.Errorf("%w (a daemon still runs: use syncfs flush on its mount instead)", err))
	case err != nil:
		return nil, journalErr(err, nil) // one line on stderr: no detail
	}
	d.j = j
	defer j.Close()
	marks, err := j.OpenMarks()
	if err != nil {
		return nil, exitcode.Wrap(exitcode.LocalDir, err)
	}
	backingDir, stopUploads, err := d.startUploads(ctx)
	if err != nil {
		return nil, err
	}
	defer backingDir.Close()
	defer stopUploads()
	if err := d.newReconciler(backingDir, false); err != nil { // nothing serves the backing dir now
		return nil, err
	}
	start := time.Now()
	d.recover(ctx, marks)

	barrier := j.Gen()
	for {
		wait, cancel := context.WithTimeout(ctx, time.Second)
		err := d.up.Flush(wait, barrier)
		cancel()
		switch {
		case err == nil:
			d.recordSeen()
			us := d.up.Stats()
			return &RecoverReport{UploadedBytes: us.UploadedBytes.Load(), SentBytes: us.SentBytes.Load(),
				Compared: d.rec.Compared.Load(), Changed: d.rec.Changed.Load(), Elapsed: time.Since(start)}, nil
		case errors.Is(err, uploader.ErrRemoteRejects):
			return nil, exitcode.Wrap(exitcode.Error, err)
		case ctx.Err() != nil:
			p := d.progress(barrier)
			return nil, exitcode.New(exitcode.Timeout, "recover timed out with %s still pending; the journal keeps it: run recover again", size.Format(p.PendingBytes))
		}
		if progress != nil {
			progress(d.progress(barrier))
		}
	}
}
