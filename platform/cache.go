package platform

import (
	"container/list"
	"sync"
	"time"
)

// cacheKey names one user's connection.
type cacheKey struct {
	user string
	id   int64
}

// cacheEntry is a validated connection and when the loader said so.
type cacheEntry struct {
	key     cacheKey
	ctx     Context
	fetched time.Time
}

// lru is a bounded least-recently-used cache of validated connections. An
// entry past its TTL is not fresh, but stays (until evicted) so that a
// loader outage can still be served from it.
type lru struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns the entry under k (a copy) and marks it used.
func (c *lru) get(k cacheKey) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return cacheEntry{}, false
	}
	c.ll.MoveToFront(el)
	return *el.Value.(*cacheEntry), true
}

// put stores ctx under k, evicting the least recently used entries beyond
// the bound.
func (c *lru) put(k cacheKey, ctx Context, fetched time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.ctx, e.fetched = ctx, fetched
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, ctx: ctx, fetched: fetched})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

// remove drops the entry under k, if any.
func (c *lru) remove(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.ll.Remove(el)
		delete(c.items, k)
	}
}

// removeUser drops every entry of user.
func (c *lru) removeUser(user string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, el := range c.items {
		if k.user == user {
			c.ll.Remove(el)
			delete(c.items, k)
			n++
		}
	}
	return n
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
