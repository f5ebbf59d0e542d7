package store

import (
	"sync"
	"sync/atomic"
)

// An application's sessions use a handful of value names, and every read
// decodes all of them: interned, a record's keys cost no allocation after
// the first time each is seen (four of the thirty allocations a read adds
// to a plain Redis GET).

// maxInterned bounds the table: names beyond it (an application that
// makes keys up per user, say) are allocated as before.
const maxInterned = 512

// maxInternedLen leaves long names out: they are rare, and the table holds
// the common ones.
const maxInternedLen = 64

// internTable is a read-mostly set of strings: lookups read an immutable
// map without a lock; an addition copies it.
type internTable struct {
	m  atomic.Pointer[map[string]string]
	mu sync.Mutex
}

var recordKeys internTable

// intern returns b as a string, the same one for the same bytes while the
// table has room.
func (t *internTable) intern(b []byte) string {
	cur := t.m.Load()
	if cur != nil {
		if s, ok := (*cur)[string(b)]; ok { // no allocation: the compiler looks up by the bytes
			return s
		}
	}
	s := string(b)
	if len(b) > maxInternedLen || (cur != nil && len(*cur) >= maxInterned) {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur = t.m.Load()
	n := 1
	if cur != nil {
		if old, ok := (*cur)[s]; ok {
			return old
		}
		n += len(*cur)
	}
	if n > maxInterned {
		return s
	}
	next := make(map[string]string, n)
	if cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	next[s] = s
	t.m.Store(&next)
	return s
}
