package health_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/vedfolnir/sessions/ginsession/health"
	"github.com/vedfolnir/sessions/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

// sqliteDB opens a real SQLite database in a temp dir.
func sqliteDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// failFastClient is a client of addr that reports a stopped server at once
// instead of retrying for seconds.
func failFastClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// serve mounts h on a real HTTP server and returns a getter of its
// status, decoded report and Cache-Control header.
func serve(t *testing.T, h gin.HandlerFunc) func() (int, health.Report, string) {
	t.Helper()
	r := gin.New()
	r.GET("/healthz", h)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return func() (int, health.Report, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var rep health.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		return resp.StatusCode, rep, resp.Header.Get("Cache-Control")
	}
}

// TestAllUp checks every mode against a live Redis and database.
func TestAllUp(t *testing.T) {
	rdb := testserver.RedisClient(t)
	db := sqliteDB(t)
	for _, mode := range []string{health.ModeRedis, health.ModeDatabase, health.ModeHybrid} {
		t.Run(mode, func(t *testing.T) {
			get := serve(t, health.Handler(health.Options{Mode: mode, Redis: rdb, DB: db}))
			code, rep, cc := get()
			if code != 200 || rep.Status != health.StatusOK || rep.Storage != mode {
				t.Fatalf("%d %+v, want 200 ok %s", code, rep, mode)
			}
			if cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			r := rep.Redis
			if r.State != health.StateUp || r.LatencyMS <= 0 || r.UsedMemory == nil || *r.UsedMemory <= 0 || r.MaxMemory == nil || r.Error != "" {
				t.Errorf("redis section %+v", r)
			}
			d := rep.Database
			if d.State != health.StateUp || d.LatencyMS <= 0 || d.Error != "" {
				t.Errorf("database section %+v", d)
			}
			if rep.Fallback != nil || rep.CheckedAt.IsZero() {
				t.Errorf("fallback %+v, checked_at %v", rep.Fallback, rep.CheckedAt)
			}
		})
	}
	t.Run("not configured", func(t *testing.T) {
		code, rep, _ := serve(t, health.Handler(health.Options{DB: db}))()
		if code != 200 || rep.Storage != health.ModeDatabase || rep.Redis.State != health.StateNotConfigured {
			t.Fatalf("%d %+v", code, rep)
		}
	})
}

// TestOutages takes a dedicated Redis and PostgreSQL down one after the
// other and checks each mode's verdict at every step.
func TestOutages(t *testing.T) {
	rp := testserver.StartRedis(t, "--maxmemory", "10mb")
	pp := testserver.StartPostgres(t)
	rdb := failFastClient(t, rp.Addr)
	db, err := sql.Open("pgx", pp.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	gets := map[string]func() (int, health.Report, string){}
	for _, mode := range []string{health.ModeRedis, health.ModeDatabase, health.ModeHybrid} {
		gets[mode] = serve(t, health.Handler(health.Options{Mode: mode, Redis: rdb, DB: db, DisableCache: true}))
	}
	type want struct {
		code   int
		status health.Status
	}
	ok, degraded, down := want{200, health.StatusOK}, want{200, health.StatusDegraded}, want{503, health.StatusDown}
	steps := []struct {
		name  string
		do    func()
		redis string
		db    string
		modes map[string]want
	}{
		{"all up", func() {}, health.StateUp, health.StateUp,
			map[string]want{health.ModeRedis: ok, health.ModeDatabase: ok, health.ModeHybrid: ok}},
		{"redis killed", func() { rp.Kill(9) }, health.StateDown, health.StateUp,
			map[string]want{health.ModeRedis: down, health.ModeDatabase: degraded, health.ModeHybrid: degraded}},
		{"database stopped too", pp.Stop, health.StateDown, health.StateDown,
			map[string]want{health.ModeRedis: down, health.ModeDatabase: down, health.ModeHybrid: down}},
		{"redis back, database still down", rp.Restart, health.StateUp, health.StateDown,
			map[string]want{health.ModeRedis: degraded, health.ModeDatabase: down, health.ModeHybrid: degraded}},
		{"database back", pp.Start, health.StateUp, health.StateUp,
			map[string]want{health.ModeRedis: ok, health.ModeDatabase: ok, health.ModeHybrid: ok}},
	}
	for _, st := range steps {
		st.do()
		for mode, w := range st.modes {
			// A restarted server may take the client's pool a moment to
			// reach again: poll, within bounds.
			var code int
			var rep health.Report
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				code, rep, _ = gets[mode]()
				if code == w.code && rep.Status == w.status || time.Now().After(deadline) {
					break
				}
			}
			if code != w.code || rep.Status != w.status || rep.Redis.State != st.redis || rep.Database.State != st.db {
				t.Errorf("%s, mode %s: %d %s (redis %+v, database %+v), want %d %s (redis %s, database %s)",
					st.name, mode, code, rep.Status, rep.Redis, rep.Database, w.code, w.status, st.redis, st.db)
			}
			if rep.Redis.State == health.StateDown && rep.Redis.Error == "" || rep.Database.State == health.StateDown && rep.Database.Error == "" {
				t.Errorf("%s, mode %s: a down component without an error: %+v", st.name, mode, rep)
			}
			if rep.Redis.State == health.StateUp && (rep.Redis.MaxMemory == nil || *rep.Redis.MaxMemory != 10<<20) {
				t.Errorf("%s, mode %s: maxmemory %v, want %d", st.name, mode, rep.Redis.MaxMemory, 10<<20)
			}
		}
	}
}

// TestFrozenRedis freezes Redis (the kernel still accepts connections,
// nothing answers) under a client with go-redis's default 5 s read timeout:
// every check still ends within the health timeout, reports Redis down, and
// at most one check per component is in flight however often it is asked.
func TestFrozenRedis(t *testing.T) {
	rp := testserver.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rp.Addr}) // defaults: no context deadlines on socket I/O
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	chk, err := health.NewChecker(health.Options{Mode: health.ModeHybrid, Redis: rdb, DB: sqliteDB(t),
		Timeout: timeout, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	rp.Freeze()
	defer rp.Thaw()
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for range 5 {
		wg.Go(func() {
			t0 := time.Now()
			rep := chk.Check(context.Background())
			slowest.Store(max(slowest.Load(), int64(time.Since(t0))))
			if rep.Status != health.StatusDegraded || rep.HTTPStatus() != 200 || rep.Redis.State != health.StateDown ||
				!strings.Contains(rep.Redis.Error, "no answer within 300ms") || rep.Database.State != health.StateUp {
				t.Errorf("frozen redis: %+v", rep)
			}
		})
	}
	wg.Wait()
	// Checks run one at a time, each bounded by the timeout: five of them
	// take about 5 x 300 ms, far from go-redis's 5 s read timeout each.
	if d := time.Duration(slowest.Load()); d > 5*timeout+time.Second {
		t.Errorf("slowest check took %v", d)
	}
	// One PING was in flight, on one connection, for all five checks.
	if n := rdb.PoolStats().TotalConns; n > 1 {
		t.Errorf("%d connections to the frozen server, want 1: checks piled up", n)
	}
	rp.Thaw()
	deadline := time.Now().Add(5 * time.Second)
	for chk.Check(context.Background()).Status != health.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ok 5 s after the thaw")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestCacheAndFallback serves a cached report until CacheFor has passed,
// and reflects the fallback's state.
func TestCacheAndFallback(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var engaged atomic.Bool
	var calls atomic.Int64
	fb := func() health.FallbackState {
		calls.Add(1)
		return health.FallbackState{Engaged: engaged.Load(), Breaker: "open", MirrorLag: 1500 * time.Millisecond, QueueDepth: 4}
	}
	db := sqliteDB(t)
	get := serve(t, health.Handler(health.Options{DB: db, Fallback: fb, Now: clk.Now}))
	code, first, _ := get()
	if code != 200 || first.Status != health.StatusOK || calls.Load() != 1 {
		t.Fatalf("%d %+v after %d checks", code, first, calls.Load())
	}
	if f := first.Fallback; f == nil || f.Engaged || f.Breaker != "open" || f.MirrorLagMS != 1500 || f.QueueDepth != 4 {
		t.Fatalf("fallback section %+v", first.Fallback)
	}
	engaged.Store(true)
	clk.Advance(999 * time.Millisecond)
	code, cached, _ := get()
	if code != 200 || cached.Status != health.StatusOK || !cached.CheckedAt.Equal(first.CheckedAt) || calls.Load() != 1 {
		t.Fatalf("within CacheFor: %d %+v, %d checks; want the first report again", code, cached, calls.Load())
	}
	clk.Advance(time.Millisecond)
	code, fresh, _ := get()
	if code != 200 || fresh.Status != health.StatusDegraded || !fresh.Fallback.Engaged || calls.Load() != 2 {
		t.Fatalf("after CacheFor: %d %+v, %d checks; want a fresh degraded report", code, fresh, calls.Load())
	}
}

func TestNewCheckerRefuses(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: options are refused first
	t.Cleanup(func() { _ = rdb.Close() })
	db := sqliteDB(t)
	tests := []struct {
		name string
		opts health.Options
		want string
	}{
		{"unknown mode", health.Options{Mode: "memcached", DB: db}, "Mode"},
		{"redis mode without redis", health.Options{Mode: health.ModeRedis, DB: db}, "needs Redis"},
		{"hybrid without database", health.Options{Mode: health.ModeHybrid, Redis: rdb}, "needs DB"},
		{"database mode without database", health.Options{Mode: health.ModeDatabase, Redis: rdb}, "needs DB"},
		{"nothing at all", health.Options{}, "needs DB"},
		{"negative timeout", health.Options{DB: db, Timeout: -time.Second}, "Timeout"},
		{"negative cache", health.Options{DB: db, CacheFor: -time.Second}, "CacheFor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := health.NewChecker(tt.opts)
			if err == nil || c != nil || !strings.HasPrefix(err.Error(), "health: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewChecker = %v, %v; want an error containing %q", c, err, tt.want)
			}
		})
	}
}
