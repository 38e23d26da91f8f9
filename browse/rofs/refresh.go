package rofs

import (
	"context"
	"sync"
	"time"
)

// pollers bounds the manifests one refresh round reads at once.
const pollers = 8

// poll re-reads, every Refresh, the manifests of files that are open, so
// that a reader who keeps a file open (a viewer, tail -f) sees new
// versions and never stale cached pages. Files that are not open are
// refreshed when the kernel asks for them again (entry and attribute
// timeouts are Refresh too). It returns when stop is closed.
func (fs *FS) poll(stop <-chan struct{}) {
	t := time.NewTicker(fs.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fs.mu.Lock()
		nodes := make([]*node, 0, len(fs.open))
		for n := range fs.open {
			nodes = append(nodes, n)
		}
		fs.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), fs.opts.Refresh+30*time.Second)
		work := make(chan *node)
		var wg sync.WaitGroup
		for range min(pollers, len(nodes)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					fs.refreshes.Add(1)
					if _, err := n.manifest(ctx, 0); err != nil {
						fs.toErrno("refresh", n.id, err)
					}
				}
			}()
		}
		for _, n := range nodes {
			work <- n
		}
		close(work)
		wg.Wait()
		cancel()
	}
}
