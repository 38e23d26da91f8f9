package browse

import (
	"container/list"
	"sync"
)

// memCache keeps decoded frames in memory, least recently used out first,
// within a byte budget. Its values are never modified once stored, so
// readers share them without copying.
type memCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	lru   *list.List // of *memEntry, most recent at the front
	m     map[frameKey]*list.Element
}

type memEntry struct {
	k   frameKey
	raw []byte
}

func newMemCache(limit int64) *memCache {
	return &memCache{limit: limit, lru: list.New(), m: map[frameKey]*list.Element{}}
}

func (c *memCache) get(k frameKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*memEntry).raw
}

func (c *memCache) put(k frameKey, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(&memEntry{k: k, raw: raw})
	c.used += int64(len(raw))
	for c.used > c.limit && c.lru.Len() > 1 {
		el := c.lru.Back()
		e := c.lru.Remove(el).(*memEntry)
		delete(c.m, e.k)
		c.used -= int64(len(e.raw))
	}
}
