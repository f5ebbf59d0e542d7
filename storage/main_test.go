package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) {
	// Fault tests make go-redis log every refused dial; keep the rest.
	redis.SetLogger(logging.NewBlacklistLogger([]string{"failed to dial"}))
	testserver.Main(m)
}

// redisURL returns a URL for the shared test Redis: REDIS_URL when set
// (testserver uses it too), else the server testserver started.
func redisURL(t testing.TB) string {
	t.Helper()
	addr := testserver.Redis(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://" + addr
}

// sqlitePath is a fresh SQLite file for t.
func sqlitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "sessions.db")
}

// fastHybrid shortens the hybrid store's timers so tests see probes and
// generation moves quickly.
func fastHybrid(o *storage.Options) {
	o.Hybrid.ProbeInterval = 100 * time.Millisecond
	o.Hybrid.GenerationInterval = 100 * time.Millisecond
}

// open opens a storage for cfg and closes it at t's cleanup.
func open(t testing.TB, cfg storage.Config, opts storage.Options) *storage.Storage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	st, err := storage.Open(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("storage.Open(%s): %v", cfg.Mode, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entry is a fresh valid entry for userID.
func entry(userID string) *store.Entry {
	now := time.Now()
	e := &store.Entry{
		Key: store.NewToken().Key(), Version: 1, UserID: userID,
		Created: now, LastActivity: now,
		IdleDeadline: now.Add(30 * time.Minute), AbsoluteDeadline: now.Add(12 * time.Hour),
		Payload: []byte("payload " + now.String()),
	}
	e.Normalize()
	return e
}

// next is e's next version with a new payload.
func next(e *store.Entry, payload string) *store.Entry {
	n := e.Clone()
	n.Version++
	n.Payload = []byte(payload)
	return n
}
