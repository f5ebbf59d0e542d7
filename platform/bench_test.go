package platform_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

// BenchmarkMiddleware compares one logged-in request with a platform
// selected, on a real SQLite store, with and without the platform
// middleware (warm cache). Both handlers read the session's user, so the
// session load is paid in both and the difference is the middleware's
// overhead.
func BenchmarkMiddleware(b *testing.B) {
	st, err := dbstore.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), dbstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	kr, _ := store.ParseKeyring(store.GenerateKey())
	mgr, err := ginsession.NewManager(ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true}})
	if err != nil {
		b.Fatal(err)
	}
	loader := func(_ context.Context, userID string, id int64) (*platform.Context, error) {
		if userID != "1" || id != 1 {
			return nil, platform.ErrNotFound
		}
		return &platform.Context{ConnectionID: 1, Name: "mastodon-main", Type: "mastodon"}, nil
	}
	pm, _ := platform.New(loader, platform.Options{})

	r := gin.New()
	r.Use(mgr.Middleware())
	r.POST("/login", func(c *gin.Context) { _ = ginsession.Current(c).Login(ginsession.User{ID: "1"}) })
	r.POST("/switch", pm.Middleware(), func(c *gin.Context) { _, _ = platform.Switch(c, 1) })
	r.GET("/plain", func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		c.String(200, u.ID)
	})
	// x50 runs the middleware 50 times: (x50 - platform) / 49 is its
	// cost per run, out of the noise of the session read.
	chain := []gin.HandlerFunc{}
	for range 50 {
		chain = append(chain, pm.Middleware())
	}
	r.GET("/x50", append(chain, func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		pc := c.MustGet(platform.Key).(*platform.Context)
		c.String(200, u.ID+pc.Name)
	})...)
	r.GET("/platform", pm.Middleware(), func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		pc := c.MustGet(platform.Key).(*platform.Context)
		c.String(200, u.ID+pc.Name)
	})

	cookie := ""
	send := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		for _, ck := range w.Result().Cookies() {
			cookie = ck.Name + "=" + ck.Value
		}
		return w
	}
	send("POST", "/login")
	if w := send("POST", "/switch"); w.Code != 200 {
		b.Fatal("switch failed", w.Code)
	}
	for _, path := range []string{"/plain", "/platform", "/x50"} {
		b.Run(path[1:], func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Cookie", cookie)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
