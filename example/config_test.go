package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestConfig: defaults, modes, and bad values named in the error.
func TestConfig(t *testing.T) {
	key := store.GenerateKey()
	cases := []struct {
		name    string
		vars    map[string]string
		check   func(appConfig) string
		wantErr []string // substrings of the error; nil: no error
	}{
		{"defaults", map[string]string{}, func(c appConfig) string {
			switch {
			case c.Addr != "127.0.0.1:8080":
				return "addr " + c.Addr
			case c.Storage != modeDatabase:
				return "storage " + c.Storage
			case !c.Session.Cookie.Insecure || !c.CookieSecureDefaulted:
				return "loopback should default to an insecure cookie"
			case !c.Session.RecordDevice || c.Session.MaxSessionsPerUser != 10:
				return "RecordDevice/MaxSessionsPerUser"
			case !strings.HasSuffix(c.DataDir, "vedfolnir-sessions-example") && c.DataDir != ".example-data":
				return "data dir " + c.DataDir
			}
			return ""
		}, nil},
		{"redis url alone is hybrid", map[string]string{envRedisURL: "redis://127.0.0.1:1"}, func(c appConfig) string {
			if c.Storage != modeHybrid {
				return c.Storage
			}
			return ""
		}, nil},
		{"explicit redis", map[string]string{envRedisURL: "redis://x:1", envStorage: "Redis"}, func(c appConfig) string {
			if c.Storage != modeRedis {
				return c.Storage
			}
			return ""
		}, nil},
		{"explicit database with redis url", map[string]string{envRedisURL: "redis://x:1", envStorage: "database"}, func(c appConfig) string {
			if c.Storage != modeDatabase {
				return c.Storage
			}
			return ""
		}, nil},
		{"localhost is loopback", map[string]string{envAddr: "localhost:9000"}, func(c appConfig) string {
			if !c.Session.Cookie.Insecure {
				return "localhost should default to an insecure cookie"
			}
			return ""
		}, nil},
		{"ipv6 loopback", map[string]string{envAddr: "[::1]:9000"}, func(c appConfig) string {
			if !c.Session.Cookie.Insecure {
				return "::1 should default to an insecure cookie"
			}
			return ""
		}, nil},
		{"public address keeps Secure", map[string]string{envAddr: "0.0.0.0:8080"}, func(c appConfig) string {
			if c.Session.Cookie.Insecure || c.CookieSecureDefaulted {
				return "0.0.0.0 must keep the Secure cookie"
			}
			return ""
		}, nil},
		{"SESSION_COOKIE_SECURE=true honoured on loopback", map[string]string{"SESSION_COOKIE_SECURE": "true"}, func(c appConfig) string {
			if c.Session.Cookie.Insecure || c.CookieSecureDefaulted {
				return "explicit true ignored"
			}
			return ""
		}, nil},
		{"SESSION_COOKIE_SECURE=false honoured anywhere", map[string]string{envAddr: "0.0.0.0:80", "SESSION_COOKIE_SECURE": "false"}, func(c appConfig) string {
			if !c.Session.Cookie.Insecure || c.CookieSecureDefaulted {
				return "explicit false ignored"
			}
			return ""
		}, nil},
		{"keys from the environment", map[string]string{"SESSION_ENCRYPTION_KEYS": key}, func(c appConfig) string {
			if c.Session.Keyring == nil || c.Session.Keyring.Len() != 1 {
				return "keyring not read"
			}
			return ""
		}, nil},
		{"timeout from the environment", map[string]string{"REDIS_SESSION_TIMEOUT": "60"}, func(c appConfig) string {
			if c.Session.IdleTimeout != time.Minute {
				return c.Session.IdleTimeout.String()
			}
			return ""
		}, nil},
		{"bad storage", map[string]string{envStorage: "memcached"}, nil, []string{"SESSION_STORAGE", "memcached"}},
		{"redis mode without url", map[string]string{envStorage: "redis"}, nil, []string{"SESSION_STORAGE=redis needs REDIS_URL"}},
		{"bad addr", map[string]string{envAddr: "8080"}, nil, []string{"EXAMPLE_ADDR"}},
		{"bad secure flag", map[string]string{"SESSION_COOKIE_SECURE": "maybe"}, nil, []string{"SESSION_COOKIE_SECURE"}},
		{"bad keys", map[string]string{"SESSION_ENCRYPTION_KEYS": "short"}, nil, []string{"SESSION_ENCRYPTION_KEYS"}},
		{"bad timeout", map[string]string{"REDIS_SESSION_TIMEOUT": "-5"}, nil, []string{"REDIS_SESSION_TIMEOUT"}},
		{"several errors at once", map[string]string{envStorage: "x", envAddr: "y"}, nil, []string{"SESSION_STORAGE", "EXAMPLE_ADDR"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configFromLookup(mapLookup(tc.vars), discard)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestBadStartup: configurations that cannot work fail newApp with a clear
// error, and leave nothing running.
func TestBadStartup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"data dir is a file", map[string]string{envDataDir: file}, "data directory"},
		{"bad database url", map[string]string{envDataDir: t.TempDir(), envDatabaseURL: "mysql://x"}, "DATABASE_URL"},
		{"bad redis url", map[string]string{envDataDir: t.TempDir(), envRedisURL: "http://x"}, "REDIS_URL"},
		{"secure cookie name on plain HTTP", map[string]string{envDataDir: t.TempDir(), "SESSION_COOKIE_NAME": "__Host-s", "SESSION_COOKIE_SECURE": "false"}, "__Host-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configFromLookup(mapLookup(tc.vars), discard)
			if err == nil {
				_, err = newApp(context.Background(), cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("corrupt key file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "session-key"), []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _ := configFromLookup(mapLookup(map[string]string{envDataDir: dir}), discard)
		_, err := newApp(context.Background(), cfg)
		if !errors.Is(err, store.ErrKeyring) || !strings.Contains(err.Error(), "session-key") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestRestartKeepsSessions: the generated key and the SQLite file persist
// in the data dir, so a restart logs nobody out.
func TestRestartKeepsSessions(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{envDataDir: dir, envAddr: "127.0.0.1:0"}
	e1 := startApp(t, vars)
	if !e1.app.KeyFileCreated {
		t.Error("first start did not create the key file")
	}
	fi, err := os.Stat(filepath.Join(dir, "session-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	c := e1.client(t, "")
	c.login("bob")
	ck := c.cookie()
	e1.srv.Close()
	if err := e1.app.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startApp(t, vars)
	if e2.app.KeyFileCreated {
		t.Error("second start replaced the key file")
	}
	c2 := e2.client(t, "")
	c2.setCookie(ck)
	if s := c2.state(); !s.Authenticated || s.User.Username != "bob" {
		t.Errorf("after restart: %+v", s)
	}
}

// TestKeyFileRace: processes starting at once agree on one key.
func TestKeyFileRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "session-key")
	const n = 8
	ids := make(chan string, n)
	for range n {
		go func() {
			kr, _, err := loadOrCreateKey(path)
			if err != nil {
				ids <- "error: " + err.Error()
				return
			}
			ids <- kr.ActiveID()
		}()
	}
	first := <-ids
	for range n - 1 {
		if id := <-ids; id != first {
			t.Fatalf("keys differ: %s vs %s", id, first)
		}
	}
	if strings.HasPrefix(first, "error") {
		t.Fatal(first)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".key-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRedisMode: SESSION_STORAGE=redis keeps sessions in Redis and the
// audit trail in the SQLite file.
func TestRedisMode(t *testing.T) {
	e := startApp(t, map[string]string{
		envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envStorage: modeRedis,
		envRedisURL: redisURL(t), "REDIS_SESSION_PREFIX": testserver.Prefix(t),
	})
	if !strings.HasPrefix(e.app.StorageDesc, "redis: ") {
		t.Errorf("storage %q", e.app.StorageDesc)
	}
	c := e.client(t, "RedisMode/1")
	c.login("alice")
	ck := c.cookie()
	// The session is in Redis under the prefix, by its key's hash.
	rdb := testserver.RedisClient(t)
	n, err := rdb.Exists(context.Background(), redisstore.KeyName(testserver.Prefix(t), store.KeyFromToken(ck))).Result()
	if err != nil || n != 1 {
		t.Errorf("session not in Redis: %d %v", n, err)
	}
	e.flushAudit(t)
	if r := c.get("/api/audit"); r.status != 200 || !strings.Contains(string(r.body), `"login"`) {
		t.Errorf("audit: %d %s", r.status, r.body)
	}
	if r := c.getAdmin("/healthz"); r.status != 200 || !strings.Contains(string(r.body), `"storage":"redis"`) {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
}

// TestHybridRedisOutage: in hybrid mode a Redis outage degrades the app
// but logs nobody out; /healthz and /metrics say so, and it recovers.
func TestHybridRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection: skipped only under -short")
	}
	rp := testserver.StartRedis(t)
	e := startApp(t, map[string]string{
		envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envStorage: modeHybrid,
		envRedisURL: "redis://" + rp.Addr, envDatabaseURL: testserver.Postgres(t),
	})
	var engaged, recovered int
	c := e.client(t, "")
	c.login("alice")
	fallbackCount := func(to string) string {
		r := c.getAdmin("/metrics")
		for _, line := range strings.Split(string(r.body), "\n") {
			if v, ok := strings.CutPrefix(line, `sessions_fallback_transitions_total{to="`+to+`"} `); ok {
				return v
			}
		}
		return "absent"
	}
	health := func() (int, string) {
		r := c.getAdmin("/healthz")
		return r.status, string(r.body)
	}
	if code, body := health(); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz before: %d %s", code, body)
	}
	tab := &client{t: t, e: e, hc: &http.Client{Jar: c.hc.Jar}}
	events := tab.stream(t)

	rp.Kill(syscall.SIGKILL)
	t0 := time.Now()
	// Sessions keep working, reads and writes.
	for i := 1; i <= 5; i++ {
		if s := c.state(); !s.Authenticated {
			t.Fatalf("request %d during the outage: logged out", i)
		}
	}
	if r := c.do("POST", "/api/platform", map[string]int{"platform_connection_id": 2}, csrfValid); r.status != 200 {
		t.Fatalf("switch during the outage: %d %s", r.status, r.body)
	}
	// The other tab still hears it, through this instance's own broker.
	if ev := next(t, events); ev.name != "platform_switched" || ev.data.Detail != "2" {
		t.Fatalf("tab during the outage got %+v", ev)
	}
	for time.Since(t0) < 10*time.Second {
		if code, body := health(); code == 200 && strings.Contains(body, `"status":"degraded"`) && fallbackCount("engaged") == "1" {
			engaged = 1
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if engaged == 0 {
		code, body := health()
		t.Fatalf("no degraded health / engaged metric after 10 s: %d %s, engaged=%s", code, body, fallbackCount("engaged"))
	}
	t.Logf("degraded and engaged %v after the kill", time.Since(t0).Round(time.Millisecond))

	rp.Restart()
	t0 = time.Now()
	for time.Since(t0) < 15*time.Second {
		c.state() // traffic lets the fallback notice
		if code, body := health(); code == 200 && strings.Contains(body, `"status":"ok"`) && fallbackCount("recovered") == "1" {
			recovered = 1
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if recovered == 0 {
		code, body := health()
		t.Fatalf("not recovered 15 s after the restart: %d %s", code, body)
	}
	t.Logf("recovered %v after the restart", time.Since(t0).Round(time.Millisecond))
	s := c.state()
	if !s.Authenticated || s.Platform == nil || s.Platform.ID != 2 {
		t.Errorf("after recovery: %+v", s)
	}
}

// TestHybridRedisDownAtStart: with Redis unreachable at start, hybrid mode
// still starts, says so, and serves sessions from SQL.
func TestHybridRedisDownAtStart(t *testing.T) {
	dead := freeAddr(t) // nothing listens there
	e := startApp(t, map[string]string{
		envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envRedisURL: "redis://" + dead,
	})
	if e.app.cfg.Storage != modeHybrid {
		t.Fatalf("REDIS_URL alone gave %s, want hybrid", e.app.cfg.Storage)
	}
	if len(e.app.Warnings) != 1 || !strings.Contains(e.app.Warnings[0], "Redis does not answer") ||
		!strings.Contains(e.app.Warnings[0], "sessions.db") {
		t.Errorf("warnings %q", e.app.Warnings)
	}
	c := e.client(t, "")
	if s := c.login("alice"); !s.Authenticated {
		t.Fatal("no login without Redis")
	}
	if s := c.state(); !s.Authenticated || s.User.Username != "alice" {
		t.Errorf("after login: %+v", s)
	}
	r := c.getAdmin("/healthz")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"degraded"`) || !strings.Contains(string(r.body), `"storage":"hybrid"`) {
		t.Errorf("healthz %d %s", r.status, r.body)
	}
}
