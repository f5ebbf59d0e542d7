package storage_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestHealthOutages takes a dedicated Redis and PostgreSQL down one after
// the other and checks each mode's verdict at every step. Redis mode
// watches the app's own database (Options.HealthDB), whose outage only
// degrades. The report carries error categories; the errors themselves,
// naming the hosts, go to the log.
func TestHealthOutages(t *testing.T) {
	rp := testserver.StartRedis(t, "--maxmemory", "10mb")
	pp := testserver.StartPostgres(t)
	appDB, err := sql.Open("pgx", pp.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = appDB.Close() })
	var logs logBuf
	opts := storage.Options{HealthDB: appDB, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	fastHybrid(&opts)
	sts := map[storage.Mode]*storage.Storage{}
	for _, mode := range []storage.Mode{storage.ModeRedis, storage.ModeDatabase, storage.ModeHybrid} {
		sts[mode] = open(t, storage.Config{Mode: mode, RedisURL: "redis://" + rp.Addr, RedisPrefix: "h" + string(mode[0]) + ":", DatabaseURL: pp.DSN}, opts)
	}
	type want struct {
		status    storage.Status
		redis, db string
	}
	ok := func(m storage.Mode) want {
		w := want{storage.StatusOK, storage.StateUp, storage.StateUp}
		if m == storage.ModeDatabase {
			w.redis = storage.StateNotConfigured
		}
		return w
	}
	const up, down, none = storage.StateUp, storage.StateDown, storage.StateNotConfigured
	steps := []struct {
		name  string
		do    func()
		modes map[storage.Mode]want
	}{
		{"all up", func() {}, map[storage.Mode]want{storage.ModeRedis: ok(storage.ModeRedis), storage.ModeDatabase: ok(storage.ModeDatabase), storage.ModeHybrid: ok(storage.ModeHybrid)}},
		{"redis killed", func() { rp.Kill(9) }, map[storage.Mode]want{
			storage.ModeRedis: {storage.StatusDown, down, up}, storage.ModeDatabase: ok(storage.ModeDatabase), storage.ModeHybrid: {storage.StatusDegraded, down, up}}},
		{"database stopped too", pp.Stop, map[storage.Mode]want{
			storage.ModeRedis: {storage.StatusDown, down, down}, storage.ModeDatabase: {storage.StatusDown, none, down}, storage.ModeHybrid: {storage.StatusDown, down, down}}},
		{"redis back, database still down", rp.Restart, map[storage.Mode]want{
			storage.ModeRedis: {storage.StatusDegraded, up, down}, storage.ModeDatabase: {storage.StatusDown, none, down}, storage.ModeHybrid: {storage.StatusDegraded, up, down}}},
		{"database back", pp.Start, map[storage.Mode]want{storage.ModeRedis: ok(storage.ModeRedis), storage.ModeDatabase: ok(storage.ModeDatabase), storage.ModeHybrid: ok(storage.ModeHybrid)}},
	}
	for _, st := range steps {
		st.do()
		for mode, w := range st.modes {
			// A restarted server may take a client's pool a moment to reach
			// again, and the hybrid store a probe to recover: poll.
			var h storage.Health
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				h = sts[mode].Health(ctxT(t))
				if h.Status == w.status && h.Redis.State == w.redis && h.Database.State == w.db || time.Now().After(deadline) {
					break
				}
			}
			if h.Status != w.status || h.Redis.State != w.redis || h.Database.State != w.db {
				t.Errorf("%s, mode %s: %s (redis %+v, database %+v), want %s (redis %s, database %s)",
					st.name, mode, h.Status, h.Redis, h.Database, w.status, w.redis, w.db)
			}
			if (h.Status == storage.StatusDown) != (h.HTTPStatus() == 503) {
				t.Errorf("%s, mode %s: %s answers %d", st.name, mode, h.Status, h.HTTPStatus())
			}
			for name, c := range map[string]storage.Component{"redis": h.Redis, "database": h.Database} {
				if c.State == down && c.Error != name+": unavailable" && c.Error != name+": timeout" {
					t.Errorf("%s, mode %s: %s down with error %q, want a category", st.name, mode, name, c.Error)
				}
			}
			if h.Redis.State == up && (h.Redis.MaxMemory == nil || *h.Redis.MaxMemory != 10<<20) {
				t.Errorf("%s, mode %s: maxmemory %v, want %d", st.name, mode, h.Redis.MaxMemory, 10<<20)
			}
			body, _ := json.Marshal(h)
			if strings.Contains(string(body), "127.0.0.1") {
				t.Errorf("%s, mode %s: the report names a host: %s", st.name, mode, body)
			}
		}
	}
	if l := logs.String(); !strings.Contains(l, "storage: health: redis check failed") || !strings.Contains(l, "127.0.0.1:") {
		t.Errorf("the log lacks the failed checks' errors:\n%s", l)
	}
}

// TestHealthFrozenRedis freezes Redis (the kernel still accepts
// connections, nothing answers): every check still ends within the health
// timeout, reports Redis down, and at most one check per component is in
// flight however often it is asked.
func TestHealthFrozenRedis(t *testing.T) {
	rp := testserver.StartRedis(t)
	const timeout = 100 * time.Millisecond // below the client's own 250 ms timeouts
	opts := storage.Options{HealthTimeout: timeout}
	fastHybrid(&opts)
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "frz:", DatabaseURL: sqlitePath(t)}, opts)
	rp.Freeze()
	defer rp.Thaw()
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for range 5 {
		wg.Go(func() {
			t0 := time.Now()
			h := st.Health(context.Background())
			slowest.Store(max(slowest.Load(), int64(time.Since(t0))))
			if h.Status != storage.StatusDegraded || h.Redis.State != storage.StateDown || h.Redis.Error != "redis: timeout" || h.Database.State != storage.StateUp {
				t.Errorf("frozen redis: %+v", h)
			}
		})
	}
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > 5*timeout+time.Second {
		t.Errorf("slowest check took %v", d)
	}
	if n := st.RedisClient().PoolStats().TotalConns; n > 2 {
		t.Errorf("%d connections to the frozen server: checks piled up", n)
	}
	rp.Thaw()
	eventually(t, 5*time.Second, "ok after the thaw", func() bool { return st.Health(context.Background()).Status == storage.StatusOK })
}
