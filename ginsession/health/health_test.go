package health_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession/health"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

// openStorage opens a real storage of mode on SQLite (and the test Redis
// when the mode uses one), closed at cleanup.
func openStorage(t *testing.T, mode storage.Mode) *storage.Storage {
	t.Helper()
	cfg := storage.Config{Mode: mode, DatabaseURL: filepath.Join(t.TempDir(), "s.db")}
	if mode != storage.ModeDatabase {
		cfg.RedisURL, cfg.RedisPrefix = "redis://"+testserver.Redis(t), testserver.Prefix(t)
	}
	st, err := storage.Open(context.Background(), cfg, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// serve mounts h on a real HTTP server and returns a getter of its
// status, decoded report and Cache-Control header.
func serve(t *testing.T, h gin.HandlerFunc) func() (int, storage.Health, string) {
	t.Helper()
	r := gin.New()
	r.GET("/healthz", h)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return func() (int, storage.Health, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var rep storage.Health
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		return resp.StatusCode, rep, resp.Header.Get("Cache-Control")
	}
}

// Every mode answers 200 ok with its sections, uncached by clients.
func TestModes(t *testing.T) {
	tests := []struct {
		mode         storage.Mode
		redis, db    string
		wantHybrid   bool
		wantRedisMem bool
	}{
		{storage.ModeDatabase, storage.StateNotConfigured, storage.StateUp, false, false},
		{storage.ModeRedis, storage.StateUp, storage.StateNotConfigured, false, true},
		{storage.ModeHybrid, storage.StateUp, storage.StateUp, true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			code, rep, cc := serve(t, health.Handler(openStorage(t, tt.mode), health.Options{}))()
			if code != 200 || rep.Status != storage.StatusOK || rep.Storage != tt.mode || cc != "no-store" {
				t.Fatalf("%d %+v, Cache-Control %q; want 200 ok %s no-store", code, rep, cc, tt.mode)
			}
			if rep.Redis.State != tt.redis || rep.Database.State != tt.db || (rep.Hybrid != nil) != tt.wantHybrid {
				t.Errorf("sections %+v", rep)
			}
			if tt.wantRedisMem && (rep.Redis.UsedMemory == nil || *rep.Redis.UsedMemory <= 0 || rep.Redis.LatencyMS <= 0) {
				t.Errorf("redis section %+v: want latency and memory figures", rep.Redis)
			}
			if rep.CheckedAt.IsZero() {
				t.Error("no checked_at")
			}
		})
	}
}

// A storage that cannot serve answers 503 down, with the error's category.
func TestDownIs503(t *testing.T) {
	st := openStorage(t, storage.ModeDatabase)
	get := serve(t, health.Handler(st, health.Options{DisableCache: true}))
	_ = st.DB().Close()
	code, rep, _ := get()
	if code != 503 || rep.Status != storage.StatusDown || rep.Database.State != storage.StateDown || rep.Database.Error != "database: unavailable" {
		t.Fatalf("%d %+v; want 503 down with database: unavailable", code, rep)
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

// A report is reused until CacheFor has passed, then built afresh.
func TestCache(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := openStorage(t, storage.ModeDatabase)
	get := serve(t, health.Handler(st, health.Options{Now: clk.Now}))
	code, first, _ := get()
	if code != 200 || first.Status != storage.StatusOK {
		t.Fatalf("%d %+v", code, first)
	}
	_ = st.DB().Close()
	clk.Advance(999 * time.Millisecond)
	code, cached, _ := get()
	if code != 200 || cached.Status != storage.StatusOK || !cached.CheckedAt.Equal(first.CheckedAt) {
		t.Fatalf("within CacheFor: %d %+v; want the first report again", code, cached)
	}
	clk.Advance(time.Millisecond)
	if code, fresh, _ := get(); code != 503 || fresh.Status != storage.StatusDown {
		t.Fatalf("after CacheFor: %d %+v; want a fresh down report", code, fresh)
	}
}

func TestNilReporterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler(nil) did not panic")
		}
	}()
	health.Handler(nil, health.Options{})
}
