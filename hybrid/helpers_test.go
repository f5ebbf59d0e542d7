package hybrid_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// sqliteStore is a dbstore on a fresh SQLite file, closed at cleanup.
func sqliteStore(t testing.TB) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), dbstore.Options{})
	if err != nil {
		t.Fatalf("dbstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// redisStore is a redisstore on addr under prefix, closed at cleanup.
func redisStore(t testing.TB, addr, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.NewFromURL("redis://"+addr, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("redisstore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newHybrid composes primary and secondary, closed at cleanup.
func newHybrid(t testing.TB, primary, secondary store.Store, o hybrid.Options) *hybrid.Store {
	t.Helper()
	h, err := hybrid.New(primary, secondary, o)
	if err != nil {
		t.Fatalf("hybrid.New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// fresh is a new valid entry of user, version 1.
func fresh(user string) *store.Entry {
	now := time.Now()
	e := &store.Entry{Key: store.NewToken().Key(), Version: 1, UserID: user, Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(24 * time.Hour), Payload: []byte("v1")}
	e.Normalize()
	return e
}

// successor is e's next version carrying payload.
func successor(e *store.Entry, payload string) *store.Entry {
	n := e.Clone()
	n.Version, n.Payload = e.Version+1, []byte(payload)
	return n
}

// within polls cond until it holds, failing t after d.
func within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}
