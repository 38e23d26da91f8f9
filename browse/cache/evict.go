package cache

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lowWater: an eviction trims the cache to this fraction of its limit, so
// that it does not run again for every entry written.
const lowWater = 0.9

// staleTemp: temporary files older than this were left by a process that
// died while writing; evictions remove them.
const staleTemp = time.Hour

// evict starts an eviction in the background unless one runs already.
func (c *Cache) evict() {
	if !c.evicting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.evicting.Store(false)
		c.evictNow()
	}()
}

type entryInfo struct {
	path  string
	size  int64
	mtime time.Time
}

// evictNow sums the entries on disk (the only truth when several
// processes share the directory) and, if they pass the limit, removes the
// least recently used down to the low-water mark. An flock on the root
// makes processes take turns; one that finds the lock taken leaves the
// work to its holder.
func (c *Cache) evictNow() {
	lock, err := os.Open(c.root)
	if err != nil {
		return
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	var entries []entryInfo
	var total int64
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // vanished under us, or unreadable: skip
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			if time.Since(info.ModTime()) > staleTemp {
				os.Remove(p)
			}
			return nil
		}
		entries = append(entries, entryInfo{p, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if total > c.limit {
		sort.Slice(entries, func(i, j int) bool { return entries[i].mtime.Before(entries[j].mtime) })
		target := int64(float64(c.limit) * lowWater)
		removed, freed := 0, int64(0)
		for _, e := range entries {
			if total <= target {
				break
			}
			if err := os.Remove(e.path); err == nil || os.IsNotExist(err) {
				total -= e.size
				freed += e.size
				removed++
				os.Remove(filepath.Dir(e.path)) // only if now empty
			}
		}
		c.evicted.Add(int64(removed))
		if c.opts.Logger != nil {
			c.opts.Logger.Printf("cache: evicted %d entries (%d bytes) to stay under %d bytes", removed, freed, c.limit)
		}
	}
	c.used.Store(total)
}
