package ginsession_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/store"
)

func init() { gin.SetMode(gin.TestMode) }

// counting wraps a real store and counts calls, so tests can prove that a
// request made no store call at all.
type counting struct {
	store.Store
	gets, puts, deletes, touches atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (*store.Entry, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	c.puts.Add(1)
	return c.Store.Put(ctx, e, prev)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *counting) Touch(ctx context.Context, key string, la, idle time.Time) error {
	c.touches.Add(1)
	return c.Store.Touch(ctx, key, la, idle)
}

// The per-user index passes through, so the manager still finds it.
func (c *counting) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	return c.Store.(store.UserIndex).ListUser(ctx, userID)
}

func (c *counting) DeleteUser(ctx context.Context, userID, keep string) (int, error) {
	return c.Store.(store.UserIndex).DeleteUser(ctx, userID, keep)
}

func (c *counting) total() int64 {
	return c.gets.Load() + c.puts.Load() + c.deletes.Load() + c.touches.Load()
}

// sqliteStore opens a real SQLite store in a temp dir.
func sqliteStore(t testing.TB) *dbstore.Store {
	t.Helper()
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), dbstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// clock is an injectable clock for timeout tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type app struct {
	t      testing.TB
	srv    *httptest.Server
	store  *counting
	mgr    *ginsession.Manager
	events *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []ginsession.Event
}

func (l *eventLog) add(e ginsession.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		k := string(e.Kind)
		if e.Detail != "" && e.Kind == ginsession.EventRejected {
			k += ":" + e.Detail
		}
		out = append(out, k)
	}
	return out
}

// newApp starts a real HTTP server with the middleware on st (SQLite when
// nil) and a few routes the tests drive.
func newApp(t testing.TB, st store.Store, tweak func(*ginsession.Config)) *app {
	t.Helper()
	if st == nil {
		st = sqliteStore(t)
	}
	a := &app{t: t, store: &counting{Store: st}, events: &eventLog{}}
	cfg := ginsession.Config{
		Store:   a.store,
		Keyring: testapp.Keyring(t),
		Cookie:  ginsession.CookieOptions{Insecure: true}, // httptest serves plain HTTP; the cookie jar drops Secure cookies there
		OnEvent: []ginsession.EventHandler{a.events.add},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	mgr, err := ginsession.NewManager(cfg)
	require.NoError(t, err)
	a.mgr = mgr
	r := gin.New()
	// gin trusts every proxy by default; a real deployment names its proxies.
	require.NoError(t, r.SetTrustedProxies(nil))
	r.Use(mgr.Middleware())
	r.GET("/untouched", func(c *gin.Context) { c.String(200, "ok") })
	r.GET("/get/:key", func(c *gin.Context) {
		v, err := ginsession.Get[string](ginsession.Current(c), c.Param("key"))
		if err != nil {
			c.String(404, "missing")
			return
		}
		c.String(200, v)
	})
	r.POST("/set/:key", func(c *gin.Context) {
		if d, err := time.ParseDuration(c.Query("sleep")); err == nil {
			_ = ginsession.Current(c).Set("touch", "x") // load before sleeping
			time.Sleep(d)
		}
		if err := ginsession.Current(c).Set(c.Param("key"), c.Query("v")); err != nil {
			c.String(400, err.Error())
			return
		}
		c.String(200, "set")
	})
	testapp.IdentityRoutes(r)
	r.GET("/keys", func(c *gin.Context) {
		keys, err := ginsession.Current(c).Keys()
		if err != nil {
			c.String(500, err.Error())
			return
		}
		c.JSON(200, keys)
	})
	r.GET("/stream", func(c *gin.Context) {
		_ = ginsession.Current(c).Set("streamed", "yes")
		c.Header("Content-Type", "text/event-stream")
		for i := range 3 {
			c.SSEvent("tick", i)
			c.Writer.Flush()
		}
	})
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

type client struct {
	t   testing.TB
	a   *app
	hc  *http.Client
	jar *cookiejar.Jar
}

func (a *app) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, a: a, hc: &http.Client{Jar: jar}, jar: jar}
}

func (c *client) do(method, path string, header http.Header) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.a.srv.URL+path, nil)
	require.NoError(c.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

func (c *client) get(path string) string {
	c.t.Helper()
	resp, body := c.do("GET", path, nil)
	require.Less(c.t, resp.StatusCode, 500, body)
	return body
}

func (c *client) post(path string) string {
	c.t.Helper()
	resp, body := c.do("POST", path, nil)
	require.Less(c.t, resp.StatusCode, 500, body)
	return body
}

// cookie returns the session cookie the jar holds ("" for none).
func (c *client) cookie() string {
	u, _ := url.Parse(c.a.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == c.a.mgr.CookieName() {
			return ck.Value
		}
	}
	return ""
}

func (c *client) setCookie(v string) {
	u, _ := url.Parse(c.a.srv.URL)
	c.jar.SetCookies(u, []*http.Cookie{{Name: c.a.mgr.CookieName(), Value: v, Path: "/"}})
}

// server is a second engine sharing an app's manager (and so its store),
// reached with the same clients.
type server struct {
	t   testing.TB
	srv *httptest.Server
}

func newServer(t testing.TB, h http.Handler) *server {
	s := &server{t: t, srv: httptest.NewServer(h)}
	t.Cleanup(s.srv.Close)
	return s
}

// do sends a request with the client's cookie for the app's host; both
// servers are on 127.0.0.1, and cookies ignore ports.
func (s *server) do(c *client, method, path string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, nil)
	require.NoError(s.t, err)
	resp, err := c.hc.Do(req)
	require.NoError(s.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

// assertEnded checks that a token's session is over: the token is
// anonymous, and whatever the store still keeps under its key (a
// tombstone until the absolute deadline) belongs to no user.
func assertEnded(t testing.TB, a *app, tok string) {
	t.Helper()
	e, err := a.store.Store.Get(context.Background(), store.KeyFromToken(tok))
	if err == nil {
		assert.Empty(t, e.UserID, "an ended session leaves no user index entry")
	} else {
		assert.ErrorIs(t, err, store.ErrNotFound)
	}
	replay := a.client()
	replay.setCookie(tok)
	assert.Equal(t, "anonymous", replay.get("/whoami"), "an ended session's token is anonymous")
	assert.Equal(t, "missing", replay.get("/get/k"))
}

// plant stores a session sealed with the app's key ring straight into st,
// as an earlier release (or a test of one) wrote it, and returns a client
// holding its token. vals are raw values by key, reserved keys included.
func plant(t testing.TB, a *app, st store.Store, userID string, created, abs time.Time, vals map[string]any) *client {
	t.Helper()
	raw := make(map[string][]byte, len(vals))
	for k, v := range vals {
		b, err := store.EncodeValue(v, store.Limits{})
		require.NoError(t, err)
		raw[k] = b
	}
	rec, err := store.EncodeRecord(raw, store.Limits{})
	require.NoError(t, err)
	tok := store.NewToken()
	payload, err := a.mgr.Config().Keyring.Seal(tok.Key(), 's', rec)
	require.NoError(t, err)
	e := &store.Entry{Key: tok.Key(), Version: 1, UserID: userID, Created: created, LastActivity: created,
		IdleDeadline: minTime(created.Add(time.Hour), abs), AbsoluteDeadline: abs, Payload: payload}
	e.Normalize()
	require.NoError(t, st.Put(context.Background(), e, 0))
	c := a.client()
	c.setCookie(tok.String())
	return c
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// syncBuffer is a log sink shared by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
