package platform

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestLRU(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name    string
		max     int
		ops     func(c *lru)
		present []cacheKey
		absent  []cacheKey
	}{
		{
			name: "evicts the least recently used",
			max:  2,
			ops: func(c *lru) {
				c.put(cacheKey{"a", 1}, Context{ConnectionID: 1}, now)
				c.put(cacheKey{"b", 2}, Context{ConnectionID: 2}, now)
				c.get(cacheKey{"a", 1}) // a is now the most recent
				c.put(cacheKey{"c", 3}, Context{ConnectionID: 3}, now)
			},
			present: []cacheKey{{"a", 1}, {"c", 3}},
			absent:  []cacheKey{{"b", 2}},
		},
		{
			name: "update does not grow",
			max:  2,
			ops: func(c *lru) {
				for range 5 {
					c.put(cacheKey{"a", 1}, Context{ConnectionID: 1}, now)
				}
				c.put(cacheKey{"b", 2}, Context{ConnectionID: 2}, now)
			},
			present: []cacheKey{{"a", 1}, {"b", 2}},
		},
		{
			name: "user and connection are one key",
			max:  10,
			ops: func(c *lru) {
				c.put(cacheKey{"a", 1}, Context{ConnectionID: 1}, now)
				c.put(cacheKey{"b", 1}, Context{ConnectionID: 1}, now)
				c.remove(cacheKey{"a", 1})
			},
			present: []cacheKey{{"b", 1}},
			absent:  []cacheKey{{"a", 1}},
		},
		{
			name: "remove user",
			max:  10,
			ops: func(c *lru) {
				c.put(cacheKey{"a", 1}, Context{ConnectionID: 1}, now)
				c.put(cacheKey{"a", 2}, Context{ConnectionID: 2}, now)
				c.put(cacheKey{"b", 1}, Context{ConnectionID: 1}, now)
				if n := c.removeUser("a"); n != 2 {
					panic(fmt.Sprint("removed ", n))
				}
			},
			present: []cacheKey{{"b", 1}},
			absent:  []cacheKey{{"a", 1}, {"a", 2}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newLRU(tc.max)
			tc.ops(c)
			for _, k := range tc.present {
				if _, ok := c.get(k); !ok {
					t.Errorf("%v missing", k)
				}
			}
			for _, k := range tc.absent {
				if _, ok := c.get(k); ok {
					t.Errorf("%v present", k)
				}
			}
		})
	}
}

func TestLRUBound(t *testing.T) {
	c := newLRU(100)
	for i := range 10_000 {
		c.put(cacheKey{fmt.Sprint(i % 997), int64(i)}, Context{ConnectionID: int64(i)}, time.Now())
		if c.len() > 100 || len(c.items) != c.ll.Len() {
			t.Fatalf("after %d puts: len %d, map %d", i+1, c.len(), len(c.items))
		}
	}
	if c.len() != 100 {
		t.Fatalf("len %d, want 100", c.len())
	}
	// The most recent 100 are the ones kept.
	for i := 9_900; i < 10_000; i++ {
		if _, ok := c.get(cacheKey{fmt.Sprint(i % 997), int64(i)}); !ok {
			t.Fatalf("recent entry %d evicted", i)
		}
	}
}

func TestHasCookie(t *testing.T) {
	cases := []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{"session=abc"}, true},
		{[]string{"a=1; session=abc"}, true},
		{[]string{"a=1;session=abc"}, true},
		{[]string{"xsession=abc"}, false},
		{[]string{"session_x=abc"}, false},
		{[]string{"a=session"}, false},
		{[]string{"a=session=; b=2"}, false},
		{[]string{"sessionsession=1; session=2"}, true},
		{[]string{"a=1", "session="}, true},
		{[]string{"session"}, false},
	}
	for _, tc := range cases {
		r := &http.Request{Header: http.Header{"Cookie": tc.header}}
		if got := hasCookie(r, "session"); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.header, got, tc.want)
		}
	}
}
