package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
)

// sourceEnvFile loads path the way its header says (set -a; . file) and
// returns the variables it sets.
func sourceEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		testserver.Unavailable(t, "sh is not installed: %v", err)
	}
	cmd := exec.Command("sh", "-c", `set -a; . "$1"; set +a; env`, "sh", path)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sourcing %s: %v", path, err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "PATH" && k != "PWD" && k != "SHLVL" && k != "_" {
			vars[k] = v
		}
	}
	return vars
}

// .env.example holds the plan's variables as it wrote them; loaded as its
// header says, it runs the example (Redis URL pointed at a private test
// server) with the plan's key shape: vedfolnir:session:{id} and the
// per-user index beside it, every name printable.
func TestEnvExample(t *testing.T) {
	vars := sourceEnvFile(t, "./.env.example")
	for k, want := range map[string]string{
		"REDIS_URL":               "redis://localhost:6379/0",
		"REDIS_SESSION_PREFIX":    "vedfolnir:session:",
		"REDIS_SESSION_TIMEOUT":   "7200",
		"SESSION_COOKIE_NAME":     "vedfolnir_session",
		"SESSION_COOKIE_HTTPONLY": "true",
		"SESSION_COOKIE_SECURE":   "true",
		"SESSION_COOKIE_SAMESITE": "Lax",
	} {
		if vars[k] != want {
			t.Errorf("%s=%q, want the plan's %q", k, vars[k], want)
		}
	}
	rp := testserver.StartRedis(t) // private: the plan's prefix as written
	vars["REDIS_URL"] = "redis://" + rp.Addr + "/0"
	vars[envDataDir] = t.TempDir()
	vars[envAddr] = "127.0.0.1:0"
	cfg, err := configFromLookup(mapLookup(vars), quietLogger(t))
	if err != nil {
		t.Fatalf("config from .env.example: %v", err)
	}
	if cfg.Storage != modeHybrid || cfg.Session.IdleTimeout != 2*time.Hour || cfg.Session.Cookie.Insecure {
		t.Errorf("storage %s, idle %v, insecure %v: want hybrid, 2h, a Secure cookie", cfg.Storage, cfg.Session.IdleTimeout, cfg.Session.Cookie.Insecure)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app, err := newApp(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(app.Handler())
	srv.StartTLS() // the cookie is Secure, as the plan has it
	t.Cleanup(func() { app.Shutdown(); srv.Close(); _ = app.Close() })
	e := &env{app: app, srv: srv, base: srv.URL}
	c := e.client(t, "dotenv")
	jar, _ := cookiejar.New(nil)
	c.hc = srv.Client()
	c.hc.Jar = jar
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.login("alice")
	if name := app.sessions.CookieName(); name != "__Host-vedfolnir_session" {
		t.Errorf("cookie name %q, want __Host-vedfolnir_session", name)
	}
	if c.cookie() == "" {
		t.Fatal("no session cookie after login")
	}
	rdb := redis.NewClient(&redis.Options{Addr: rp.Addr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result() // a private server: every key is the app's
	if err != nil {
		t.Fatal(err)
	}
	var sessions, buckets int
	for _, k := range keys {
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] > '~' {
				t.Errorf("key %q is not printable ASCII without spaces", k)
				break
			}
		}
		switch {
		case strings.Contains(k, "session:session:"):
			t.Errorf("key %q repeats session:", k)
		case redisstore.IsKeyName("vedfolnir:session:", k):
			sessions++
		case strings.HasPrefix(k, "vedfolnir:users:") && len(k) == len("vedfolnir:users:")+4:
			buckets++
		default:
			t.Errorf("unexpected key %q", k)
		}
	}
	if sessions == 0 || buckets != 1 {
		t.Errorf("keys %q: want vedfolnir:session:{id} keys and alice's index bucket", keys)
	}
}
