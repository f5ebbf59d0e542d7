package hybrid_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// The composition is a store like any other: it passes the conformance
// suite over two SQLite stores (no server), and over real Redis with
// SQLite, write-through and write-behind. Storage's tests run it again
// through its hybrid mode, on PostgreSQL too.
func TestConformance(t *testing.T) {
	tests := []struct {
		name    string
		primary func(t *testing.T) store.Store
		opts    hybrid.Options
	}{
		{"sqlite primary", func(t *testing.T) store.Store { return sqliteStore(t) }, hybrid.Options{}},
		{"redis primary", func(t *testing.T) store.Store { return redisStore(t, testserver.Redis(t), testserver.Prefix(t)) }, hybrid.Options{}},
		{"redis primary, write-behind", func(t *testing.T) store.Store {
			return redisStore(t, testserver.Redis(t), testserver.Prefix(t))
		}, hybrid.Options{WriteBehind: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // mostly waits on expiry deadlines
			storetest.Run(t, func(t *testing.T) store.Store {
				return newHybrid(t, tt.primary(t), sqliteStore(t), tt.opts)
			}, storetest.Options{})
		})
	}
}

// New refuses stores that lack a capability the composition needs.
func TestNewRefuses(t *testing.T) {
	ok := sqliteStore(t)
	type bare struct{ store.Store }
	tests := []struct {
		name               string
		primary, secondary store.Store
	}{
		{"nil primary", nil, ok},
		{"nil secondary", ok, nil},
		{"primary without Copier", bare{ok}, ok},
		{"secondary without Copier", ok, bare{ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := hybrid.New(tt.primary, tt.secondary, hybrid.Options{})
			if !errors.Is(err, store.ErrInvalid) || h != nil {
				t.Fatalf("New = %v, %v; want ErrInvalid", h, err)
			}
		})
	}
}

// Without a Namespace, the store reconciles every key the outage touched
// into the same primary before serving it again: writes copied, deletes
// deleted, touches applied; an older copy never wins.
func TestReconcilesWithoutNamespace(t *testing.T) {
	rp := testserver.StartRedis(t)
	ctx := context.Background()
	rs := redisStore(t, rp.Addr, "rec:")
	h := newHybrid(t, rs, sqliteStore(t), hybrid.Options{ProbeInterval: 100 * time.Millisecond})
	a, b, c := fresh("u"), fresh("u"), fresh("u")
	for _, e := range []*store.Entry{a, b, c} {
		if err := h.Put(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}

	rp.Freeze()
	a2 := successor(a, "a2")
	for _, w := range []struct {
		e    *store.Entry
		prev uint64
	}{{a2, 1}, {successor(a2, "a3"), 2}} {
		if err := h.Put(ctx, w.e, w.prev); err != nil {
			t.Fatalf("Put during the outage: %v", err)
		}
	}
	if err := h.Delete(ctx, b.Key); err != nil {
		t.Fatal(err)
	}
	idle := store.Millis(time.Now().Add(2 * time.Hour))
	if err := h.Touch(ctx, c.Key, store.Millis(time.Now()), idle); err != nil {
		t.Fatal(err)
	}
	if !h.Engaged() {
		t.Fatal("a failed write did not engage the store")
	}
	if got, err := rs.Get(ctx, a.Key); err == nil {
		t.Fatalf("Redis answered while frozen: %v", got.Version)
	}
	rp.Thaw()
	within(t, 15*time.Second, "recovery", func() bool { return !h.Engaged() })

	// Read Redis directly: it agrees with SQL.
	if got, err := rs.Get(ctx, a.Key); err != nil || got.Version != 3 || string(got.Payload) != "a3" {
		t.Errorf("Redis copy of the rewritten entry: %v, %v; want version 3 a3", got, err)
	}
	if got, err := rs.Get(ctx, b.Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Redis copy of the deleted entry: %v, %v; want ErrNotFound", got, err)
	}
	if got, err := rs.Get(ctx, c.Key); err != nil || !got.IdleDeadline.Equal(idle) {
		t.Errorf("Redis copy of the touched entry: %v, %v; want idle deadline %v", got, err, idle)
	}
	if st := h.Status(); st.Engagements != 1 || st.Recoveries != 1 || st.OutageKeys != 0 {
		t.Errorf("status after recovery: %+v", st)
	}
}
