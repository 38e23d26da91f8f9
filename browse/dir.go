package browse

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/remote"
)

// Entry is one name in a directory.
type Entry struct {
	Name string
	Kind format.Kind
	ID   format.ID
}

// RootEntry is the entry of the tree's root directory.
var RootEntry = Entry{Kind: format.KindDir, ID: format.RootID}

// maxDentry bounds a dentry object: 19 bytes and a name of ≤ 255.
const maxDentry = 19 + format.MaxNameLen

// dentryFetchers bounds the dentry bodies one ReadDir fetches at once.
const dentryFetchers = 16

// ReadDir lists directory dir, sorted by name. Entries that cannot be
// trusted (a body that does not decode, a bad name or kind, a name that
// is not the one its key was made from, a key nested below the
// directory) are left out, each with one log line. A directory nobody
// wrote to lists empty.
func (t *Tree) ReadDir(ctx context.Context, dir format.ID) ([]Entry, error) {
	ents, _, err := t.ReadDirChecked(ctx, dir)
	return ents, err
}

// Skipped is a dentry ReadDir left out, and why.
type Skipped struct {
	Key string // the dentry's object key
	Why error  // wraps ErrCorrupt
}

// ReadDirChecked is ReadDir that also returns the dentries it left out,
// for a caller that must report them rather than skip them (verify).
func (t *Tree) ReadDirChecked(ctx context.Context, dir format.ID) ([]Entry, []Skipped, error) {
	prefix := format.DirPrefix(dir)
	var infos []remote.ObjectInfo
	err := t.store.List(ctx, prefix, func(oi remote.ObjectInfo) error {
		infos = append(infos, oi)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]Entry, len(infos))
	ok := make([]bool, len(infos))
	bad := make([]error, len(infos))
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range min(dentryFetchers, len(infos)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e, err := t.dentry(ctx, prefix, infos[i], false)
				switch {
				case err == nil:
					out[i], ok[i] = e, true
				case errors.Is(err, ErrCorrupt):
					bad[i] = err // logged by dentry
				case errors.Is(err, remote.ErrNotFound):
					// deleted since the listing
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range infos {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	entries := out[:0]
	var skipped []Skipped
	for i, e := range out {
		if ok[i] {
			entries = append(entries, e)
		} else if bad[i] != nil {
			skipped = append(skipped, Skipped{Key: infos[i].Key, Why: bad[i]})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, skipped, nil
}

// dentry returns the entry stored at oi.Key, from the dentry cache when
// the object is unchanged since it was read, else with a GET. fresh
// forces a GET unless the cached copy is younger than DentryTTL.
func (t *Tree) dentry(ctx context.Context, prefix string, oi remote.ObjectInfo, fresh bool) (Entry, error) {
	ename := strings.TrimPrefix(oi.Key, prefix)
	if strings.Contains(ename, "/") || ename == "" {
		t.warn.printf("%s: %s: not a dentry key (nested below %s): skipped", t.store, oi.Key, prefix)
		return Entry{}, fmt.Errorf("%w: %s is not a dentry key", ErrCorrupt, oi.Key)
	}
	if c, ok := t.dents.get(oi.Key); ok && c.valid(oi, fresh, t.opts.DentryTTL) {
		return c.e, c.err
	}
	fetched := time.Now()
	b, err := t.readSmall(ctx, oi.Key, maxDentry)
	if errors.Is(err, remote.ErrNotFound) {
		t.dents.drop(oi.Key)
		return Entry{}, err
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return Entry{}, err
	}
	var e Entry
	if err == nil {
		e, err = t.decodeDentry(oi.Key, ename, b)
	}
	if err != nil {
		t.warn.printf("%s: %s: %v: skipped", t.store, oi.Key, err)
	}
	t.dents.put(oi.Key, &dentCached{e: e, err: err, size: int64(len(b)), modTime: oi.ModTime, fetched: fetched})
	return e, err
}

// decodeDentry checks a dentry body against the key it was found under.
func (t *Tree) decodeDentry(key, ename string, b []byte) (Entry, error) {
	d, err := format.DecodeDentry(b)
	if err != nil {
		return Entry{}, err
	}
	if err := format.CheckName(d.Name); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// Two keys must not claim one name, and a key must not claim a name
	// it was not made from: the name is trusted only if it escapes to
	// the key's last component.
	if format.EscapeName(d.Name) != ename {
		return Entry{}, fmt.Errorf("%w: dentry names %q, which is not what key %s was made from", ErrCorrupt, d.Name, key)
	}
	return Entry{Name: d.Name, Kind: d.Kind, ID: d.ID}, nil
}

// Lookup returns the entry name of directory dir, or an error wrapping
// ErrNotExist. It reads the dentry with one GET (or from what ReadDir
// read less than DentryTTL ago).
func (t *Tree) Lookup(ctx context.Context, dir format.ID, name string) (Entry, error) {
	if err := format.CheckName(name); err != nil {
		return Entry{}, notExist("%q: no such entry", name)
	}
	key := format.DentryKey(dir, name)
	if c, ok := t.dents.get(key); ok && time.Since(c.fetched) < t.opts.DentryTTL {
		return c.e, c.err
	}
	e, err := t.dentry(ctx, format.DirPrefix(dir), remote.ObjectInfo{Key: key}, true)
	if errors.Is(err, remote.ErrNotFound) {
		return Entry{}, notExist("%q: no such entry", name)
	}
	return e, err
}

// Resolve follows a slash-separated path from the root ("" or "/" is the
// root itself) through the dentries.
func (t *Tree) Resolve(ctx context.Context, p string) (Entry, error) {
	e := RootEntry
	for _, name := range splitPath(p) {
		if e.Kind != format.KindDir {
			return Entry{}, fmt.Errorf("%s: %w", p, ErrNotDir)
		}
		next, err := t.Lookup(ctx, e.ID, name)
		if err != nil {
			if errors.Is(err, ErrNotExist) {
				return Entry{}, notExist("%s: no such file or directory", p)
			}
			return Entry{}, err
		}
		e = next
	}
	return e, nil
}

// splitPath cleans p and splits it into names; ".." cannot climb above
// the root.
func splitPath(p string) []string {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// dentCached is a dentry as last read.
type dentCached struct {
	e       Entry
	err     error // a corrupt body stays corrupt until it changes
	size    int64
	modTime time.Time
	fetched time.Time
}

// valid says whether c still describes the object oi lists. It does if
// it was read less than ttl ago; otherwise (and never when fresh is
// asked for and ttl has passed) only if the object's size and time are
// unchanged and the object was already 2 s old when read: stores keep
// times to the second, so a rewrite in the second after a read would
// otherwise go unseen.
func (c *dentCached) valid(oi remote.ObjectInfo, fresh bool, ttl time.Duration) bool {
	if time.Since(c.fetched) < ttl {
		return true
	}
	if fresh || oi.ModTime.IsZero() {
		return false
	}
	return oi.Size == c.size && oi.ModTime.Equal(c.modTime) && c.fetched.Sub(c.modTime) > 2*time.Second
}

// dentCache holds dentries by key, at most max of them.
type dentCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*dentCached
}

func newDentCache(max int) *dentCache { return &dentCache{max: max, m: map[string]*dentCached{}} }

func (c *dentCache) get(key string) (*dentCached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[key]
	return d, ok
}

func (c *dentCache) put(key string, d *dentCached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m) // crude but bounded; dentries are cheap to read again
	}
	c.m[key] = d
}

func (c *dentCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
