package ginsession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
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

// twoSessions is an application with an app session (default name) and an
// admin session ("admin", cookie on /admin only) on one router, each with
// its own store, timeouts and clockwork, driven over real HTTP.
type twoSessions struct {
	t          *testing.T
	srv        *httptest.Server
	app, admin *ginsession.Manager
	appStore   store.Store
	adminStore store.Store
	clock      *clock
	events     *eventLog // both managers' events, in one stream
}

func newTwoSessions(t *testing.T, clk *clock, appStore, adminStore store.Store) *twoSessions {
	t.Helper()
	ts := &twoSessions{t: t, appStore: appStore, adminStore: adminStore, clock: clk, events: &eventLog{}}
	var err error
	ts.app, err = ginsession.NewManager(ginsession.Config{
		Store: appStore, Keyring: testapp.Keyring(t), Now: ts.clock.Now,
		Cookie:      ginsession.CookieOptions{Insecure: true},
		IdleTimeout: 2 * time.Hour,
		OnEvent:     []ginsession.EventHandler{ts.events.add},
	})
	require.NoError(t, err)
	ts.admin, err = ginsession.NewManager(ginsession.Config{
		Name:  "admin",
		Store: adminStore, Keyring: testapp.Keyring(t), Now: ts.clock.Now,
		Cookie:      ginsession.CookieOptions{Insecure: true, Path: "/admin"},
		IdleTimeout: 10 * time.Minute,
		OnEvent:     []ginsession.EventHandler{ts.events.add},
	})
	require.NoError(t, err)
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{Session: "admin"})
	require.NoError(t, err)
	appCSRF, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	require.NoError(t, err)

	r := gin.New()
	r.Use(ts.app.Middleware())
	fail := func(c *gin.Context, err error) bool {
		if err != nil {
			c.String(500, err.Error())
		}
		return err != nil
	}
	r.POST("/login/:id", func(c *gin.Context) {
		if !fail(c, ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")})) {
			c.String(200, "in")
		}
	})
	r.GET("/csrf", func(c *gin.Context) {
		tok, err := ginsession.Current(c).CSRFToken()
		if !fail(c, err) {
			c.String(200, tok)
		}
	})
	r.POST("/app/do", appCSRF, func(c *gin.Context) { c.String(200, "app done") })
	admin := r.Group("/admin", ts.admin.Middleware())
	admin.POST("/login/:id", func(c *gin.Context) {
		if !fail(c, ginsession.CurrentNamed(c, "admin").Login(ginsession.User{ID: c.Param("id")})) {
			c.String(200, "in")
		}
	})
	admin.POST("/both/:id", func(c *gin.Context) {
		u := ginsession.User{ID: c.Param("id")}
		if !fail(c, errors.Join(ginsession.Current(c).Login(u), ginsession.CurrentNamed(c, "admin").Login(u))) {
			c.String(200, "both in")
		}
	})
	admin.GET("/csrf", func(c *gin.Context) {
		tok, err := ginsession.CurrentNamed(c, "admin").CSRFToken()
		if !fail(c, err) {
			c.String(200, tok)
		}
	})
	admin.GET("/whoami", func(c *gin.Context) {
		a, _ := ginsession.CurrentUser(c)
		b, _ := ginsession.CurrentUserNamed(c, "admin")
		c.String(200, "app=%s admin=%s", a.ID, b.ID)
	})
	admin.POST("/set/:key", func(c *gin.Context) {
		if !fail(c, ginsession.CurrentNamed(c, c.Query("s")).Set(c.Param("key"), c.Query("v"))) {
			c.String(200, "set")
		}
	})
	admin.GET("/get/:key", func(c *gin.Context) {
		v, err := ginsession.Get[string](ginsession.CurrentNamed(c, c.Query("s")), c.Param("key"))
		if err != nil {
			c.String(404, "missing")
			return
		}
		c.String(200, v)
	})
	admin.POST("/do", csrf, ginsession.RequireRecentLoginNamed("admin", 5*time.Minute), func(c *gin.Context) {
		c.String(200, "done")
	})
	ts.srv = httptest.NewServer(r)
	t.Cleanup(ts.srv.Close)
	return ts
}

type jarClient struct {
	t   *testing.T
	ts  *twoSessions
	hc  *http.Client
	jar *cookiejar.Jar
}

func (ts *twoSessions) client() *jarClient {
	jar, _ := cookiejar.New(nil)
	return &jarClient{t: ts.t, ts: ts, hc: &http.Client{Jar: jar}, jar: jar}
}

func (c *jarClient) do(method, path string, header ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.ts.srv.URL+path, nil)
	require.NoError(c.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

func (c *jarClient) ok(method, path string, header ...string) string {
	c.t.Helper()
	resp, body := c.do(method, path, header...)
	require.Equal(c.t, 200, resp.StatusCode, "%s %s: %s", method, path, body)
	return body
}

// cookie returns the value of the named cookie the jar sends to path.
func (c *jarClient) cookie(path, name string) string {
	u, _ := url.Parse(c.ts.srv.URL + path)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func setCookieNames(resp *http.Response) []string {
	var names []string
	for _, ck := range resp.Cookies() {
		names = append(names, ck.Name)
	}
	return names
}

// Two sessions on one request, one in Redis and one in SQLite, with their
// own cookies, paths, timeouts and CSRF tokens, never see each other's
// values, users or tokens.
func TestNamedSessionsEndToEnd(t *testing.T) {
	clk := &clock{now: time.Now()}
	// The SQLite store judges expiry by its own clock: the test's.
	sqlite, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "admin.db"), dbstore.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sqlite.Close() })
	ts := newTwoSessions(t, clk, storeMakers["redis"](t), sqlite)
	assert.Equal(t, "", ts.app.Name())
	assert.Equal(t, "admin", ts.admin.Name())
	assert.Equal(t, "session", ts.app.CookieName())
	assert.Equal(t, "session-admin", ts.admin.CookieName(), "a named session's default cookie carries its name")

	c := ts.client()
	resp, _ := c.do("POST", "/login/alice")
	assert.Equal(t, []string{"session"}, setCookieNames(resp))
	resp, _ = c.do("POST", "/admin/login/root")
	assert.Equal(t, []string{"session-admin"}, setCookieNames(resp), "the admin login leaves the app cookie alone")
	assert.Equal(t, "app=alice admin=root", c.ok("GET", "/admin/whoami"))
	assert.Empty(t, c.cookie("/", "session-admin"), "the admin cookie is scoped to /admin")
	var logins []string
	ts.events.mu.Lock()
	for _, ev := range ts.events.events {
		if ev.Kind == ginsession.EventLogin {
			logins = append(logins, ev.Name+":"+ev.UserID)
		}
	}
	ts.events.mu.Unlock()
	assert.Equal(t, []string{":alice", "admin:root"}, logins, "a shared event consumer tells the sessions apart")

	appTok, adminTok := c.cookie("/", "session"), c.cookie("/admin", "session-admin")
	ctx := context.Background()
	_, err = ts.appStore.Get(ctx, store.KeyFromToken(appTok))
	assert.NoError(t, err, "the app session is in Redis")
	_, err = ts.adminStore.Get(ctx, store.KeyFromToken(adminTok))
	assert.NoError(t, err, "the admin session is in SQLite")
	_, err = ts.appStore.Get(ctx, store.KeyFromToken(adminTok))
	assert.ErrorIs(t, err, store.ErrNotFound, "and not in Redis")

	t.Run("values", func(t *testing.T) {
		c.ok("POST", "/admin/set/k?s=&v=app")
		c.ok("POST", "/admin/set/k?s=admin&v=admin")
		assert.Equal(t, "app", c.ok("GET", "/admin/get/k?s="))
		assert.Equal(t, "admin", c.ok("GET", "/admin/get/k?s=admin"))
	})

	t.Run("csrf", func(t *testing.T) {
		csrfAdmin := c.ok("GET", "/admin/csrf")
		csrfApp := c.ok("GET", "/csrf")
		require.NotEqual(t, csrfApp, csrfAdmin)
		resp, _ := c.do("POST", "/admin/do")
		assert.Equal(t, 403, resp.StatusCode, "no token")
		resp, _ = c.do("POST", "/admin/do", ginsession.CSRFHeader, csrfApp)
		assert.Equal(t, 403, resp.StatusCode, "the app session's token does not pass the admin check")
		assert.Equal(t, "done", c.ok("POST", "/admin/do", ginsession.CSRFHeader, csrfAdmin))
		resp, _ = c.do("POST", "/app/do", ginsession.CSRFHeader, csrfAdmin)
		assert.Equal(t, 403, resp.StatusCode, "nor the admin token the app check")
		assert.Equal(t, "app done", c.ok("POST", "/app/do", ginsession.CSRFHeader, csrfApp))

		// A visitor (the admin login form) gets the admin session's visitor
		// token, bound to its own cookie.
		v := ts.client()
		visitorAdmin, visitorApp := v.ok("GET", "/admin/csrf"), v.ok("GET", "/csrf")
		assert.NotEmpty(t, v.cookie("/admin", "session-admin-csrf"))
		resp, _ = v.do("POST", "/admin/do", ginsession.CSRFHeader, visitorApp)
		assert.Equal(t, 403, resp.StatusCode, "the app's visitor token does not pass the admin check")
		resp, _ = v.do("POST", "/admin/do", ginsession.CSRFHeader, visitorAdmin)
		assert.Equal(t, 401, resp.StatusCode, "the admin visitor token passes the CSRF check; the login check refuses")
	})

	t.Run("timeouts", func(t *testing.T) {
		ts.clock.Advance(6 * time.Minute)
		csrfAdmin := c.ok("GET", "/admin/csrf")
		resp, body := c.do("POST", "/admin/do", ginsession.CSRFHeader, csrfAdmin)
		assert.Equal(t, 401, resp.StatusCode, "the admin login is older than RequireRecentLoginNamed allows: %s", body)
		ts.clock.Advance(11 * time.Minute)
		assert.Equal(t, "app=alice admin=", c.ok("GET", "/admin/whoami"), "the admin session idled out, the app one did not")
		c.ok("POST", "/admin/login/root")
		csrfAdmin = c.ok("GET", "/admin/csrf")
		assert.Equal(t, "done", c.ok("POST", "/admin/do", ginsession.CSRFHeader, csrfAdmin))
	})

	t.Run("both in one response", func(t *testing.T) {
		c := ts.client()
		resp, _ := c.do("POST", "/admin/both/bob")
		assert.ElementsMatch(t, []string{"session", "session-admin"}, setCookieNames(resp))
		assert.Equal(t, "app=bob admin=bob", c.ok("GET", "/admin/whoami"))
	})
}

// failingPut is a real store whose writes fail with err.
type failingPut struct {
	store.Store
	err error
}

func (f failingPut) Put(context.Context, *store.Entry, uint64) error { return f.err }

// One session's failed save fails the response, but the other session's
// commit stands, Set-Cookie included: whichever of the two failed, whichever
// loaded first, and whether the handler wrote the body or left the commit
// to the middleware.
func TestNamedSaveFailureKeepsOtherCookie(t *testing.T) {
	broken := errors.New("disk full")
	for _, tc := range []struct {
		name        string
		failApp     bool
		err         error
		code        int
		adminFirst  bool
		writesBody  bool
		survivorSet string
	}{
		{"admin fails, body written", false, broken, 500, false, true, "session"},
		{"admin fails, admin loaded first", false, broken, 500, true, true, "session"},
		{"admin fails, nothing written", false, broken, 500, false, false, "session"},
		{"admin fails first-loaded, nothing written", false, broken, 500, true, false, "session"},
		{"app fails, body written", true, broken, 500, false, true, "session-admin"},
		{"app fails, admin loaded first", true, broken, 500, true, true, "session-admin"},
		{"app fails, nothing written", true, broken, 500, false, false, "session-admin"},
		{"app unavailable, nothing written", true, store.ErrUnavailable, 503, true, false, "session-admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var appSt, adminSt store.Store = sqliteStore(t), sqliteStore(t)
			if tc.failApp {
				appSt = failingPut{appSt, tc.err}
			} else {
				adminSt = failingPut{adminSt, tc.err}
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			app, err := ginsession.NewManager(ginsession.Config{Store: appSt, Keyring: testapp.Keyring(t), Logger: logger})
			require.NoError(t, err)
			admin, err := ginsession.NewManager(ginsession.Config{Name: "admin", Store: adminSt, Keyring: testapp.Keyring(t), Logger: logger})
			require.NoError(t, err)
			r := gin.New()
			r.Use(app.Middleware(), admin.Middleware())
			r.POST("/", func(c *gin.Context) {
				first, second := ginsession.Current(c), ginsession.CurrentNamed(c, "admin")
				if tc.adminFirst {
					first, second = second, first
				}
				_ = first.Set("k", "v")
				_ = second.Set("k", "v")
				if tc.writesBody {
					c.String(200, "ok")
				}
			})
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
			assert.Equal(t, tc.code, w.Code)
			var names []string
			for _, line := range w.Header().Values("Set-Cookie") {
				name, _, _ := strings.Cut(line, "=")
				names = append(names, name)
			}
			assert.Equal(t, []string{"__Host-" + tc.survivorSet}, names, "the session that saved keeps its cookie, and only it")
			assert.Contains(t, logs.String(), "ginsession: save")
		})
	}
}

// Two middlewares that would hide each other's session or share a cookie
// fail the request that runs both, with 500 and a log line naming both.
func TestNamedConflict(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, then ginsession.Config
	}{
		{"same default name", ginsession.Config{}, ginsession.Config{Cookie: ginsession.CookieOptions{Name: "other"}}},
		{"same name", ginsession.Config{Name: "admin"}, ginsession.Config{Name: "admin", Cookie: ginsession.CookieOptions{Name: "other"}}},
		{"same cookie", ginsession.Config{}, ginsession.Config{Name: "admin", Cookie: ginsession.CookieOptions{Name: "session"}}},
		{"cookie is the other's visitor CSRF cookie", ginsession.Config{}, ginsession.Config{Name: "csrf"}},
		{"same token header", ginsession.Config{TokenHeader: ginsession.TokenHeaderOptions{Enabled: true}},
			ginsession.Config{Name: "admin", TokenHeader: ginsession.TokenHeaderOptions{Enabled: true, Name: "authorization"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			st := sqliteStore(t)
			mk := func(cfg ginsession.Config) *ginsession.Manager {
				cfg.Store, cfg.Keyring = st, testapp.Keyring(t)
				cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				m, err := ginsession.NewManager(cfg)
				require.NoError(t, err)
				return m
			}
			first, then := mk(tc.first), mk(tc.then)
			r := gin.New()
			r.GET("/one", first.Middleware(), func(c *gin.Context) { c.String(200, "fine") })
			r.GET("/both", first.Middleware(), then.Middleware(), func(c *gin.Context) {
				t.Error("the handler of a conflicting request ran")
			})
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", "/one", nil))
			assert.Equal(t, 200, w.Code, "a route with one of them works")
			w = httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", "/both", nil))
			assert.Equal(t, 500, w.Code)
			assert.Contains(t, w.Body.String(), "session configuration conflict")
			assert.Contains(t, logs.String(), ginsession.ErrSessionConflict.Error())
			assert.Contains(t, logs.String(), fmt.Sprintf("other_cookie=%s", first.CookieName()))
		})
	}
	t.Run("same manager twice", func(t *testing.T) {
		m, err := ginsession.NewManager(ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		r := gin.New()
		var errs []error
		r.Use(func(c *gin.Context) {
			c.Next()
			for _, e := range c.Errors {
				errs = append(errs, e.Err)
			}
		})
		r.Use(m.Middleware())
		r.GET("/", m.Middleware(), func(*gin.Context) { t.Error("the handler ran") })
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 500, w.Code)
		require.Len(t, errs, 1, "the conflict is on the gin context's errors too")
		assert.ErrorIs(t, errs[0], ginsession.ErrSessionConflict)
	})
}

func TestNamedLookup(t *testing.T) {
	admin, err := ginsession.NewManager(ginsession.Config{Name: "admin", Store: sqliteStore(t), Keyring: testapp.Keyring(t)})
	require.NoError(t, err)
	r := gin.New()
	r.Use(admin.Middleware())
	r.GET("/", func(c *gin.Context) {
		_, ok := ginsession.Lookup(c)
		assert.False(t, ok, "a named session is not the default one")
		_, ok = ginsession.LookupNamed(c, "other")
		assert.False(t, ok)
		s, ok := ginsession.LookupNamed(c, "admin")
		require.True(t, ok)
		assert.Same(t, s, ginsession.CurrentNamed(c, "admin"))
		assert.Same(t, admin, s.Manager())
		assert.PanicsWithValue(t, `ginsession: no default session on the context, only named ones: use CurrentNamed(c, "admin")`, func() { ginsession.Current(c) })
		assert.Panics(t, func() { ginsession.CurrentNamed(c, "other") })
		c.Status(204)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 204, w.Code)
}

// Loads and saves of a named session reach the Observer as store
// "session:<name>", the default session's as "session": one registry keeps
// both sessions' figures apart.
func TestNamedObserved(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	obs := func(ctx context.Context, c store.Call) (context.Context, func(store.Result)) {
		mu.Lock()
		seen[c.Store+" "+c.Op.String()]++
		mu.Unlock()
		return ctx, func(store.Result) {}
	}
	st := sqliteStore(t)
	mk := func(name string) gin.HandlerFunc {
		m, err := ginsession.NewManager(ginsession.Config{Name: name, Store: st, Keyring: testapp.Keyring(t), Observer: obs})
		require.NoError(t, err)
		return m.Middleware()
	}
	r := gin.New()
	r.GET("/", mk(""), mk("admin"), func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Set("k", 1))
		require.NoError(t, ginsession.CurrentNamed(c, "admin").Set("k", 2))
		c.Status(204)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, 204, w.Code)
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"session save", "session:admin save"} {
		assert.Equal(t, 1, seen[k], "%s in %v", k, seen)
	}
}

func TestNamedConfig(t *testing.T) {
	for _, tc := range []struct {
		name, cookie, want string
	}{
		{"", "", "__Host-session"},
		{"admin", "", "__Host-session-admin"},
		{"admin", "adm", "__Host-adm"},
		{"a.b_c-1", "", "__Host-session-a.b_c-1"},
	} {
		m, err := ginsession.NewManager(ginsession.Config{Name: tc.name, Cookie: ginsession.CookieOptions{Name: tc.cookie}, Store: sqliteStore(t), Keyring: testapp.Keyring(t)})
		require.NoError(t, err)
		assert.Equal(t, tc.want, m.CookieName(), "name %q, cookie %q", tc.name, tc.cookie)
		assert.Equal(t, tc.name, m.Name())
	}
	for _, bad := range []string{"ad min", "admin;", "é", "a=b"} {
		_, err := ginsession.NewManager(ginsession.Config{Name: bad, Store: sqliteStore(t), Keyring: testapp.Keyring(t)})
		assert.ErrorIs(t, err, ginsession.ErrConfig, "%q", bad)
		assert.ErrorContains(t, err, "Name")
	}
}

// A request that touches neither of two sessions pays for the two Session
// structs and gin's Keys map, and makes no store call.
func TestNamedUntouchedAllocations(t *testing.T) {
	a, b := &counting{Store: sqliteStore(t)}, &counting{Store: sqliteStore(t)}
	app, err := ginsession.NewManager(ginsession.Config{Store: a, Keyring: testapp.Keyring(t)})
	require.NoError(t, err)
	admin, err := ginsession.NewManager(ginsession.Config{Name: "admin", Store: b, Keyring: testapp.Keyring(t)})
	require.NoError(t, err)
	bare := gin.New()
	bare.GET("/", func(c *gin.Context) { c.Status(204) })
	with := gin.New()
	with.Use(app.Middleware(), admin.Middleware())
	with.GET("/", func(c *gin.Context) { c.Status(204) })
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", app.CookieName()+"="+store.NewToken().String()+"; "+admin.CookieName()+"="+store.NewToken().String())
	measure := func(h http.Handler) float64 {
		return testing.AllocsPerRun(200, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	}
	added := measure(with) - measure(bare)
	t.Logf("allocations added on the untouched path with two sessions: %.0f", added)
	assert.LessOrEqual(t, added, 5.0)
	assert.Zero(t, a.total()+b.total())
}
