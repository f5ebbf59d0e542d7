package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/internal/testserver"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	testserver.Main(m)
}

// backend is one storage set-up every HTTP-level test runs on.
type backend struct {
	name string
	env  func(t *testing.T) map[string]string
}

// backends: SQLite alone (no servers, as on a fresh machine) and hybrid on
// a real Redis and a real PostgreSQL.
var backends = []backend{
	{"sqlite", func(t *testing.T) map[string]string {
		return map[string]string{envDataDir: t.TempDir(), envAddr: "127.0.0.1:0"}
	}},
	{"hybrid", func(t *testing.T) map[string]string {
		return map[string]string{
			envDataDir:             t.TempDir(),
			envAddr:                "127.0.0.1:0",
			envStorage:             modeHybrid,
			envRedisURL:            redisURL(t),
			"REDIS_SESSION_PREFIX": testserver.Prefix(t),
			envDatabaseURL:         testserver.Postgres(t),
		}
	}},
}

// redisURL is the shared test Redis as a URL: REDIS_URL's when set (it may
// carry a password or a database), else the server testserver started.
func redisURL(t *testing.T) string {
	addr := testserver.Redis(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://" + addr
}

// forEachBackend runs f as a subtest per backend, each with a fresh app
// behind a real HTTP server.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, startApp(t, b.env(t))) })
	}
}

// env is a running app and its server.
type env struct {
	app       *App
	srv       *httptest.Server
	base      string
	adminBase string // the operator listener: /healthz, /metrics
}

// quietLogger drops the app's log unless the test is verbose.
func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startApp builds the app from vars, as the environment would give them,
// and serves it on 127.0.0.1.
func startApp(t testing.TB, vars map[string]string) *env {
	t.Helper()
	return startAppWith(t, vars, nil)
}

// startAppWith is startApp with tweak applied to the configuration.
func startAppWith(t testing.TB, vars map[string]string, tweak func(*appConfig)) *env {
	t.Helper()
	cfg, err := configFromLookup(mapLookup(vars), quietLogger(t))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app, err := newApp(ctx, cfg)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewUnstartedServer(app.Handler())
	srv.Config.RegisterOnShutdown(app.Shutdown)
	srv.Start()
	admin := httptest.NewServer(app.AdminHandler())
	t.Cleanup(func() {
		app.Shutdown()
		srv.Close()
		admin.Close()
		if err := app.Close(); err != nil {
			t.Errorf("app.Close: %v", err)
		}
	})
	return &env{app: app, srv: srv, base: srv.URL, adminBase: admin.URL}
}

// client is one browser: its own cookie jar and user agent.
type client struct {
	t    testing.TB
	e    *env
	hc   *http.Client
	ua   string
	csrf string // from the last /api/session or /api/login answer
}

func (e *env) client(t testing.TB, ua string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, e: e, ua: ua, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errMsg returns the "error" of a {"error": "..."} answer, failing when
// the body has another shape.
func (r response) errMsg(t testing.TB) string {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	s, ok := m["error"].(string)
	if !ok || len(m) != 1 || s == "" {
		t.Fatalf("want {\"error\": \"...\"}, got %s", r.body)
	}
	return s
}

// csrfMode says what X-CSRF-Token a request sends.
type csrfMode int

const (
	csrfValid   csrfMode = iota // the session's token
	csrfMissing                 // no header
	csrfWrong                   // a well-formed token of another session
	csrfGarbage                 // not a token at all
)

const otherToken = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// do sends a request; body is sent as is when it is a string, else as
// JSON.
func (c *client) do(method, path string, body any, mode csrfMode) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, c.e.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch mode {
	case csrfValid:
		req.Header.Set("X-CSRF-Token", c.csrf)
	case csrfWrong:
		req.Header.Set("X-CSRF-Token", otherToken)
	case csrfGarbage:
		req.Header.Set("X-CSRF-Token", "not a token; <script>")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

func (c *client) get(path string) response { c.t.Helper(); return c.do("GET", path, nil, csrfMissing) }

// getAdmin is get on the operator listener.
func (c *client) getAdmin(path string) response {
	c.t.Helper()
	cc, e := *c, *c.e
	e.base = c.e.adminBase
	cc.e = &e
	return cc.get(path)
}

// session is the answer of GET /api/session.
type session struct {
	Authenticated bool `json:"authenticated"`
	User          *struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Role     string `json:"role"`
	} `json:"user"`
	Platform     *platformJSON `json:"platform"`
	CSRFToken    string        `json:"csrf_token"`
	CreatedAt    *string       `json:"created_at"`
	LastActivity *string       `json:"last_activity"`
	ExpiresAt    *string       `json:"expires_at"`
}

type platformJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// state reads GET /api/session and keeps its CSRF token.
func (c *client) state() session {
	c.t.Helper()
	r := c.get("/api/session")
	if r.status != 200 {
		c.t.Fatalf("GET /api/session: %d %s", r.status, r.body)
	}
	var s session
	r.json(c.t, &s)
	c.csrf = s.CSRFToken
	return s
}

// login logs in, failing the test unless it succeeds.
func (c *client) login(user string) session {
	c.t.Helper()
	if c.csrf == "" {
		c.state()
	}
	r := c.do("POST", "/api/login", map[string]string{"username": user, "password": user}, csrfValid)
	if r.status != 200 {
		c.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var s session
	r.json(c.t, &s)
	c.csrf = s.CSRFToken
	return s
}

// cookie returns the session cookie's value ("" when none).
func (c *client) cookie() string {
	u, _ := url.Parse(c.e.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == c.e.app.sessions.CookieName() {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the session cookie (to replay an old one).
func (c *client) setCookie(v string) {
	u, _ := url.Parse(c.e.base)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: c.e.app.sessions.CookieName(), Value: v, Path: "/"}})
}

// flushAudit waits until the audit trail holds every event so far.
func (e *env) flushAudit(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.app.audit.Flush(ctx); err != nil {
		t.Fatalf("audit flush: %v", err)
	}
}

// mustRFC3339UTC parses an RFC 3339 time and checks it is in UTC.
func mustRFC3339UTC(t testing.TB, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("%s = %q: want an RFC 3339 UTC time (err %v)", what, s, err)
	}
	return tm
}
