package uploader

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/lru"
	"github.com/syncfs/syncfs/remote"
)

// Largest manifest objects read (and, for inode manifests, written): the
// same bound as readers (format.MaxManifest), so that nothing the
// uploader writes is refused by browse.
const (
	maxManifestObject = format.MaxManifest
	maxSegmentObject  = format.MaxSegmentManifest
)

// manifestCache keeps the inode manifests the uploader wrote (it is the
// only writer of its prefix, so its copy is authoritative) and an LRU of
// segment manifests, fetching from the store on a miss.
type manifestCache struct {
	store remote.Store

	mu    sync.Mutex
	roots map[format.ID]*format.Manifest
	segs  *lru.Cache[segKey, *format.Segment] // copies: callers get copies of them
}

type segKey struct {
	id  format.ID
	idx uint32
	ver uint64
}

func newManifestCache(store remote.Store, maxSeg int) *manifestCache {
	return &manifestCache{store: store, roots: map[format.ID]*format.Manifest{}, segs: lru.New[segKey, *format.Segment](int64(maxSeg), nil)}
}

// root returns a copy of inode id's manifest, nil if it has none yet.
func (c *manifestCache) root(ctx context.Context, id format.ID) (*format.Manifest, error) {
	c.mu.Lock()
	m, ok := c.roots[id]
	c.mu.Unlock()
	if !ok {
		b, err := remote.ReadAll(ctx, c.store, format.InodeKey(id), maxManifestObject)
		if errors.Is(err, remote.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if m, err = format.DecodeManifest(b); err != nil {
			return nil, fmt.Errorf("%s: %w", format.InodeKey(id), err)
		}
		c.mu.Lock()
		c.roots[id] = m
		c.mu.Unlock()
	}
	return cloneManifest(m), nil
}

func (c *manifestCache) setRoot(id format.ID, m *format.Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roots[id] = cloneManifest(m)
}

func (c *manifestCache) forget(id format.ID) {
	c.mu.Lock()
	delete(c.roots, id)
	c.mu.Unlock()
	c.segs.DeleteFunc(func(k segKey) bool { return k.id == id })
}

// segment returns a copy of segment idx of m (all zeros when it has no
// manifest), fitted to m's size.
func (c *manifestCache) segment(ctx context.Context, id format.ID, m *format.Manifest, idx int) (*format.Segment, error) {
	if m == nil || idx >= len(m.Segments) || m.Segments[idx].Version == 0 {
		size := int64(0)
		if m != nil {
			size = m.Size
		}
		return format.ZeroSegment(idx, size), nil
	}
	ref := m.Segments[idx]
	k := segKey{id, uint32(idx), ref.Version}
	if s, ok := c.segs.Get(k); ok {
		return cloneSegment(s), nil
	}
	key := format.SegmentKey(id, uint32(idx), ref.Version)
	b, err := remote.ReadAll(ctx, c.store, key, maxSegmentObject)
	if err != nil {
		return nil, err
	}
	if format.CRC(b) != ref.CRC {
		return nil, fmt.Errorf("%s: %w: checksum differs from the inode manifest's", key, format.ErrCorrupt)
	}
	s, err := format.DecodeSegment(b, uint32(idx), ref.Version, m.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	c.putSegment(id, s)
	return cloneSegment(s), nil
}

func (c *manifestCache) putSegment(id format.ID, s *format.Segment) {
	c.segs.Put(segKey{id, s.Index, s.Version}, cloneSegment(s))
}

func cloneManifest(m *format.Manifest) *format.Manifest {
	if m == nil {
		return nil
	}
	n := *m
	n.Xattrs = append([]format.Xattr(nil), m.Xattrs...)
	n.Segments = append([]format.SegmentRef(nil), m.Segments...)
	n.Objects = append([]format.Object(nil), m.Objects...)
	return &n
}

func cloneSegment(s *format.Segment) *format.Segment {
	n := *s
	n.Hashes = append([][format.HashSize]byte(nil), s.Hashes...)
	n.Extents = append([]format.Extent(nil), s.Extents...)
	return &n
}
