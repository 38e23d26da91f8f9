// Package lru is the one in-memory cache of syncfs: least recently used
// out first, within a budget counted in entries or in bytes. The
// uploader's segment manifests and the readers' segment manifests and
// decoded frames all use it, so they evict the same way.
package lru

import (
	"container/list"
	"sync"
)

// Cache maps keys to values within a budget. It is safe for concurrent
// use. Values are handed out as stored: callers that modify what they get
// must store copies.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	limit int64
	used  int64
	cost  func(V) int64
	ll    *list.List // of *entry[K, V], most recent at the front
	m     map[K]*list.Element
}

type entry[K comparable, V any] struct {
	k    K
	v    V
	cost int64
}

// New returns a cache whose entries' costs add up to at most limit; cost
// nil counts each entry as 1. The entry put last always stays, even when
// it alone is over the limit.
func New[K comparable, V any](limit int64, cost func(V) int64) *Cache[K, V] {
	if cost == nil {
		cost = func(V) int64 { return 1 }
	}
	return &Cache[K, V]{limit: limit, cost: cost, ll: list.New(), m: map[K]*list.Element{}}
}

// Get returns the value of k and makes it the most recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*entry[K, V]).v, true
}

// Put stores v under k, unless k is there already (then it only becomes
// the most recently used: values of one key are the same), and evicts the
// least recently used entries while the cache is over its budget.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.ll.MoveToFront(el)
		return
	}
	e := &entry[K, V]{k: k, v: v, cost: c.cost(v)}
	c.m[k] = c.ll.PushFront(e)
	c.used += e.cost
	for c.used > c.limit && c.ll.Len() > 1 {
		c.remove(c.ll.Back())
	}
}

// DeleteFunc removes every entry whose key del reports.
func (c *Cache[K, V]) DeleteFunc(del func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.m {
		if del(k) {
			c.remove(el)
		}
	}
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Used is the sum of the entries' costs.
func (c *Cache[K, V]) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// remove drops el; c.mu is held.
func (c *Cache[K, V]) remove(el *list.Element) {
	e := c.ll.Remove(el).(*entry[K, V])
	delete(c.m, e.k)
	c.used -= e.cost
}
