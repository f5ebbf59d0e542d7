package ginsession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// clockedStores are real stores that judge expiry by the test's clock, as
// the manager does: idle and absolute deadlines are tested by moving it.
var clockedStores = map[string]func(t testing.TB, now func() time.Time) store.Store{
	"sqlite": func(t testing.TB, now func() time.Time) store.Store {
		st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{Now: now, DisableSweeper: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
	// counting hides GetTouch: the refresh is the commit's Touch.
	"sqlite-touch": func(t testing.TB, now func() time.Time) store.Store {
		st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{Now: now, DisableSweeper: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return &counting{Store: st}
	},
	"redis": func(t testing.TB, now func() time.Time) store.Store {
		st, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: testserver.Prefix(t), Now: now})
		require.NoError(t, err)
		return st
	},
}

func forEachClockedStore(t *testing.T, fn func(t *testing.T, clk *clock, st store.Store)) {
	for name, mk := range clockedStores {
		t.Run(name, func(t *testing.T) {
			clk := &clock{now: time.Now()}
			fn(t, clk, mk(t, clk.Now))
		})
	}
}

// rememberRoutes serves m's sessions: POST /login/:id (query remember=1,
// idle and lifetime as durations), /rotate, /set/:key; GET /whoami, /info
// (remembered or not), /devices (the user's sessions, "r" for each
// remembered one).
func rememberRoutes(t testing.TB, m *ginsession.Manager) *gin.Engine {
	r := gin.New()
	r.Use(m.Middleware())
	r.POST("/login/:id", func(c *gin.Context) {
		var o ginsession.LoginOptions
		o.Remember = c.Query("remember") == "1"
		o.IdleTimeout, _ = time.ParseDuration(c.Query("idle"))
		o.Lifetime, _ = time.ParseDuration(c.Query("lifetime"))
		err := ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")}, o)
		switch {
		case errors.Is(err, ginsession.ErrLoginOptions):
			c.String(400, "bad options")
		case err != nil:
			c.String(500, err.Error())
		default:
			c.String(200, "in")
		}
	})
	r.POST("/rotate", func(c *gin.Context) { require.NoError(t, ginsession.Current(c).Rotate("test")) })
	r.POST("/set/:key", func(c *gin.Context) { require.NoError(t, ginsession.Current(c).Set(c.Param("key"), "v")) })
	r.GET("/whoami", func(c *gin.Context) {
		u, ok := ginsession.CurrentUser(c)
		if !ok {
			c.String(200, "anonymous")
			return
		}
		c.String(200, u.ID)
	})
	r.GET("/info", func(c *gin.Context) {
		in, _, err := ginsession.Current(c).Info()
		require.NoError(t, err)
		if in.Remembered != ginsession.Current(c).Remembered() {
			c.String(500, "Info and Remembered disagree")
			return
		}
		c.JSON(200, in)
	})
	r.GET("/devices", func(c *gin.Context) {
		list, err := ginsession.Current(c).UserSessions(c.Request.Context())
		require.NoError(t, err)
		out := ""
		for _, d := range list {
			if d.Remembered {
				out += "r"
			} else {
				out += "-"
			}
		}
		c.String(200, out)
	})
	return r
}

// sessionCookie returns the Set-Cookie of the session cookie, if any.
func sessionCookie(t testing.TB, resp *http.Response, name string) (*http.Cookie, string) {
	t.Helper()
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			ck, err := http.ParseSetCookie(line)
			require.NoError(t, err)
			return ck, line
		}
	}
	return nil, ""
}

const day = 24 * time.Hour

// rememberApp serves rememberRoutes on a manager over st itself, not
// through a wrapper: the store's GetTouch must be in play.
type rememberApp struct {
	t   testing.TB
	mgr *ginsession.Manager
	srv *server
}

func newRememberApp(t testing.TB, st store.Store, clk *clock, tweak func(*ginsession.Config)) *rememberApp {
	cfg := ginsession.Config{Store: st, Keyring: testapp.Keyring(t), Now: clk.Now,
		Cookie: ginsession.CookieOptions{Insecure: true}}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := ginsession.NewManager(cfg)
	require.NoError(t, err)
	return &rememberApp{t: t, mgr: m, srv: newServer(t, rememberRoutes(t, m))}
}

func (a *rememberApp) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, hc: &http.Client{Jar: jar}, jar: jar}
}

// A remembered login gets a persistent cookie and its own lifetime; the
// choice lives in the stored session, so every later request, rotation and
// listing sees it, and the cookie's Max-Age follows the absolute deadline
// down.
func TestRememberMe(t *testing.T) {
	forEachClockedStore(t, func(t *testing.T, clk *clock, st store.Store) {
		a := newRememberApp(t, st, clk, nil)
		srv := a.srv
		name := a.mgr.CookieName()
		maxAge := func(c *client, method, path string) int {
			t.Helper()
			resp, body := srv.do(c, method, path)
			require.Equal(t, 200, resp.StatusCode, body)
			ck, line := sessionCookie(t, resp, name)
			require.NotNil(t, ck, "a Set-Cookie for %s %s", method, path)
			if ck.MaxAge == 0 {
				assert.NotContains(t, line, "Max-Age", "a browser-session cookie")
				assert.NotContains(t, line, "Expires")
			}
			return ck.MaxAge
		}
		whoami := func(c *client) string {
			_, body := srv.do(c, "GET", "/whoami")
			return body
		}

		plain, rem := a.client(), a.client()
		assert.Zero(t, maxAge(plain, "POST", "/login/1"), "no Max-Age without remember")
		assert.Equal(t, int(30*day/time.Second), maxAge(rem, "POST", "/login/2?remember=1"))
		_, body := srv.do(rem, "GET", "/info")
		assert.Contains(t, body, `"Remembered":true`)
		_, body = srv.do(plain, "GET", "/info")
		assert.Contains(t, body, `"Remembered":false`)

		// Three idle hours end the plain session (2h idle timeout), not the
		// remembered one.
		clk.Advance(3 * time.Hour)
		assert.Equal(t, "anonymous", whoami(plain))
		assert.Equal(t, "2", whoami(rem))

		// Rotation keeps the choice and the deadline.
		assert.Equal(t, int((30*day-3*time.Hour)/time.Second), maxAge(rem, "POST", "/rotate"))
		_, body = srv.do(rem, "GET", "/info")
		assert.Contains(t, body, `"Remembered":true`)

		// Another instance on the same store sees it too.
		m2, err := ginsession.NewManager(a.mgr.Config())
		require.NoError(t, err)
		srv2 := newServer(t, rememberRoutes(t, m2))
		resp, body := srv2.do(rem, "GET", "/info")
		require.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, body, `"Remembered":true`)

		// Ten days on, a write re-sends the cookie with what is left.
		clk.Advance(10 * day)
		assert.Equal(t, int((20*day-3*time.Hour)/time.Second), maxAge(rem, "POST", "/set/k"))

		other := a.client()
		srv.do(other, "POST", "/login/2")
		_, body = srv.do(rem, "GET", "/devices")
		assert.Equal(t, "r-", body, "the listing says which session is remembered")

		// However active, the session ends at its absolute deadline.
		for range 19 {
			clk.Advance(day)
			require.Equal(t, "2", whoami(rem))
		}
		clk.Advance(21 * time.Hour)
		assert.Equal(t, "anonymous", whoami(rem))
	})
}

// LoginOptions.IdleTimeout is this session's own, on stores that refresh
// in the same round trip as the read (GetTouch) too.
func TestLoginIdleTimeout(t *testing.T) {
	forEachClockedStore(t, func(t *testing.T, clk *clock, st store.Store) {
		a := newRememberApp(t, st, clk, nil)
		srv := a.srv
		whoami := func(c *client) string {
			_, body := srv.do(c, "GET", "/whoami")
			return body
		}
		short := a.client()
		srv.do(short, "POST", "/login/1?idle=10m")
		for range 6 {
			clk.Advance(4 * time.Minute)
			require.Equal(t, "1", whoami(short), "kept alive by use")
		}
		clk.Advance(11 * time.Minute)
		assert.Equal(t, "anonymous", whoami(short), "ten idle minutes end it, not the configured two hours")

		rem := a.client()
		resp, _ := srv.do(rem, "POST", "/login/2?remember=1&idle=1h")
		ck, _ := sessionCookie(t, resp, a.mgr.CookieName())
		require.NotNil(t, ck)
		assert.Equal(t, int(30*day/time.Second), ck.MaxAge, "the cookie lasts the lifetime")
		for range 3 {
			clk.Advance(50 * time.Minute)
			require.Equal(t, "2", whoami(rem))
		}
		clk.Advance(61 * time.Minute)
		assert.Equal(t, "anonymous", whoami(rem), "a remembered session may still have an idle timeout")

		bad := a.client()
		resp, _ = srv.do(bad, "POST", "/login/3?idle=-1m")
		assert.Equal(t, 400, resp.StatusCode)
	})
}

// No login outlives Config.RememberLifetime, and no cookie outlives its
// session.
func TestLoginLifetimeCapped(t *testing.T) {
	clk := &clock{now: time.Now()}
	st := clockedStores["sqlite"](t, clk.Now)
	a := newRememberApp(t, st, clk, func(c *ginsession.Config) { c.RememberLifetime = 7 * day })
	srv := a.srv
	login := func(c *client, q string) int {
		resp, body := srv.do(c, "POST", "/login/1?"+q)
		require.Equal(t, 200, resp.StatusCode, body)
		ck, _ := sessionCookie(t, resp, a.mgr.CookieName())
		require.NotNil(t, ck)
		return ck.MaxAge
	}
	assert.Equal(t, int(7*day/time.Second), login(a.client(), "remember=1"))
	assert.Equal(t, int(7*day/time.Second), login(a.client(), "remember=1&lifetime=2160h"), "capped")
	assert.Equal(t, 3600, login(a.client(), "remember=1&lifetime=1h"), "the cookie follows a shorter lifetime")

	long := a.client()
	assert.Zero(t, login(long, "lifetime=2160h&idle=2160h"))
	for range 7 {
		clk.Advance(day)
		_, body := srv.do(long, "GET", "/whoami")
		if body == "anonymous" {
			break
		}
	}
	_, body := srv.do(long, "GET", "/whoami")
	assert.Equal(t, "anonymous", body, "ended by the configured maximum")
}

func TestRememberLifetimeConfig(t *testing.T) {
	c, err := ginsession.ConfigFromLookup(lookupOf(map[string]string{ginsession.EnvRememberLife: "604800"}))
	require.NoError(t, err)
	assert.Equal(t, 7*day, c.RememberLifetime)
	for _, bad := range []map[string]string{
		{ginsession.EnvRememberLife: "week"},
		{ginsession.EnvRememberLife: "-1"},
		{ginsession.EnvRememberLife: "3600"}, // shorter than the default absolute timeout
		{ginsession.EnvRememberLife: "100000", ginsession.EnvAbsoluteTimeout: "200000"},
	} {
		_, err := ginsession.ConfigFromLookup(lookupOf(bad))
		require.ErrorIs(t, err, ginsession.ErrConfig, bad)
		assert.Contains(t, err.Error(), ginsession.EnvRememberLife)
	}

	base := ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t)}
	m, err := ginsession.NewManager(base)
	require.NoError(t, err)
	assert.Equal(t, 30*day, m.Config().RememberLifetime)
	long := base
	long.AbsoluteTimeout = 60 * day
	m, err = ginsession.NewManager(long)
	require.NoError(t, err)
	assert.Equal(t, 60*day, m.Config().RememberLifetime, "never shorter than AbsoluteTimeout")
	short := base
	short.RememberLifetime = time.Hour
	_, err = ginsession.NewManager(short)
	assert.ErrorIs(t, err, ginsession.ErrConfig)
}
