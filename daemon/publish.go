package daemon

import (
	"context"
	"time"

	"github.com/syncfs/syncfs/internal/exclude"
	"github.com/syncfs/syncfs/publish"
	"github.com/syncfs/syncfs/remote"
)

// publishLoop publishes plain objects of the tree every interval while the
// journal records changes (mount --publish-every): files written within
// the last upload delay wait for the next round, so that a file is
// published once it has settled, not at every write. It shares nothing
// with the uploader but the store, and a publish run from the command
// line meanwhile simply makes a round skip (the records are busy).
func (d *daemon) publishLoop(ctx context.Context, store remote.Store, every time.Duration) {
	ex, err := exclude.New(d.c.Excludes)
	if err != nil {
		d.log.Printf("publish: %v", err)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gen := d.j.Gen()
		if gen == last {
			continue
		}
		recs, err := publish.OpenRecords(publish.RecordsPath(d.c.State, d.c.Remote))
		if err != nil {
			d.log.Printf("publish: %v (next round in %v)", err, every)
			continue
		}
		r, err := publish.Run(ctx, publish.Options{Dir: d.c.Backing, Store: store, Prefix: publish.Prefix, Records: recs, Exclude: ex, Settle: d.c.UploadDelay})
		recs.Close()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				d.log.Printf("publish: %v (next round in %v)", err, every)
			}
		case len(r.Errors) > 0:
			d.log.Printf("publish: %d files could not be published (next round in %v); first: %s", len(r.Errors), every, r.Errors[0])
		default:
			if r.Published+r.Deleted > 0 {
				d.log.Printf("published %d files (%d unchanged, %d deleted, %d still being written): %d bytes sent, %d copied inside the store",
					r.Published, r.Unchanged, r.Deleted, r.Held, r.BytesSent, r.BytesCopied)
			}
			if r.Held == 0 {
				last = gen
			}
		}
	}
}
