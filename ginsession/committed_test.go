package ginsession_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
)

// Every change after the response has started is refused with
// ErrCommitted, logged once, and nothing of it reaches the store.
func TestChangeAfterCommit(t *testing.T) {
	for _, tc := range []struct {
		op     string
		change func(*ginsession.Session) error
	}{
		{"set", func(s *ginsession.Session) error { return s.Set("late", "x") }},
		{"delete", func(s *ginsession.Session) error { return s.Delete("early") }},
		{"clear", func(s *ginsession.Session) error { return s.Clear() }},
		{"flash", func(s *ginsession.Session) error { return s.AddFlash("late") }},
		{"login", func(s *ginsession.Session) error { return s.Login(ginsession.User{ID: "7"}) }},
		{"rotate", func(s *ginsession.Session) error { return s.Rotate("late") }},
	} {
		t.Run(tc.op, func(t *testing.T) {
			var logs bytes.Buffer
			a := newApp(t, nil, func(c *ginsession.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			r := gin.New()
			r.Use(a.mgr.Middleware())
			var errs []error
			r.POST("/", func(c *gin.Context) {
				s := ginsession.Current(c)
				require.NoError(t, s.Set("early", "y"))
				c.String(200, "written") // the commit runs here
				errs = append(errs, tc.change(s), tc.change(s))
			})
			srv := newServer(t, r)
			cl := a.client()
			cl.post("/set/base?v=1")
			before := cl.cookie()
			resp, _ := srv.do(cl, "POST", "/")
			require.Equal(t, 200, resp.StatusCode)
			for _, err := range errs {
				assert.ErrorIs(t, err, ginsession.ErrCommitted)
			}
			assert.Equal(t, 1, strings.Count(logs.String(), "session changed after the response started"), "logged once: %s", logs.String())
			assert.Contains(t, logs.String(), "op="+tc.op)
			assert.Equal(t, before, cl.cookie(), "the token did not change")
			assert.Equal(t, "y", cl.get("/get/early"), "the change before the commit is kept")
			assert.Equal(t, "missing", cl.get("/get/late"))
			assert.Equal(t, "anonymous", cl.get("/whoami"))
		})
	}
}

// Flashes with none pending is an empty slice, JSON [].
func TestFlashesEmpty(t *testing.T) {
	a := newApp(t, nil, nil)
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.GET("/flashes", func(c *gin.Context) {
		f, err := ginsession.Current(c).Flashes()
		require.NoError(t, err)
		c.JSON(200, f)
	})
	r.POST("/flash", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).AddFlash("hi"))
		c.Status(204)
	})
	srv := newServer(t, r)
	cl := a.client()
	for _, tc := range []struct{ before, want string }{
		{"", "[]"}, // a new visitor
		{"flash", `["hi"]`},
		{"", "[]"}, // read and removed
	} {
		if tc.before != "" {
			srv.do(cl, "POST", "/"+tc.before)
		}
		_, body := srv.do(cl, "GET", "/flashes")
		assert.JSONEq(t, tc.want, body)
	}
}

// With Redis stopped, the middleware itself answers 503 with Retry-After,
// for a new visitor (whose session cannot be created) and for a stored
// session (which cannot be read), even when the handler ignores the error.
func TestStoreOutageIs503(t *testing.T) {
	rp := testserver.StartRedis(t)
	st, err := redisstore.NewFromURL("redis://"+rp.Addr, redisstore.Options{Prefix: testserver.Prefix(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := newApp(t, st, func(c *ginsession.Config) { c.RetryAfter = 2500e6 }) // 2.5s: 3 whole seconds
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/ignore", func(c *gin.Context) {
		_ = ginsession.Current(c).Set("k", "v") // error ignored
		c.String(200, "handler output")
	})
	r.GET("/read", func(c *gin.Context) {
		v := ginsession.GetOr(ginsession.Current(c), "k", "default")
		c.String(200, v)
	})
	srv := newServer(t, r)
	stored := a.client()
	_, body := srv.do(stored, "POST", "/ignore")
	require.Equal(t, "handler output", body)
	require.NotEmpty(t, stored.cookie())

	rp.Kill(syscall.SIGKILL)
	for _, tc := range []struct {
		name, method, path string
		cl                 func() *client
	}{
		{"new visitor writes", "POST", "/ignore", a.client},
		{"new visitor logs in", "POST", "/login/1", a.client},
		{"stored session reads", "GET", "/read", func() *client { return stored }},
		{"stored session writes", "POST", "/ignore", func() *client { return stored }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := srv.do(tc.cl(), tc.method, tc.path)
			if tc.path == "/login/1" {
				resp, body = tc.cl().do(tc.method, tc.path, nil) // the app's own route
			}
			assert.Equal(t, 503, resp.StatusCode, body)
			assert.Equal(t, "3", resp.Header.Get("Retry-After"))
			assert.JSONEq(t, `{"error":"session store unavailable"}`, body)
			assert.Empty(t, resp.Header.Get("Set-Cookie"))
		})
	}

	// A configured handler writes the answer.
	custom, err := ginsession.NewManager(ginsession.Config{
		Store: st, Keyring: a.mgr.Config().Keyring, Cookie: ginsession.CookieOptions{Insecure: true},
		OnUnavailable: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "maintenance"})
		},
	})
	require.NoError(t, err)
	r2 := gin.New()
	r2.Use(custom.Middleware())
	r2.POST("/", func(c *gin.Context) {
		_ = ginsession.Current(c).Set("k", "v") // a new visitor: the store is first called at the commit
		c.String(200, "x")
	})
	w := httptest.NewRecorder()
	r2.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error":"maintenance"}`, w.Body.String())
}
