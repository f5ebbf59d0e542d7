package ginsession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
)

// BenchmarkMiddleware measures the middleware on SQLite: a route that never
// touches the session, one that reads two values (and one that also reads
// the user), one that writes one, and a new visitor's login with the three
// values set after it. The no-middleware row is the ceiling.
func BenchmarkMiddleware(b *testing.B) {
	st := sqliteStore(b)
	mgr, err := ginsession.NewManager(ginsession.Config{Store: st, Keyring: testapp.Keyring(b), Cookie: ginsession.CookieOptions{Insecure: true}})
	if err != nil {
		b.Fatal(err)
	}
	routes := func(r *gin.Engine) {
		r.GET("/untouched", func(c *gin.Context) { c.Status(204) })
		r.GET("/login", func(c *gin.Context) {
			_ = ginsession.Current(c).Login(ginsession.User{ID: "1", Username: "alice", Role: "admin"})
			s := ginsession.Current(c)
			_ = s.Set("platform_connection_id", 1)
			_ = s.Set("platform_name", "mastodon-main")
			_ = s.Set("platform_type", "mastodon")
			c.Status(204)
		})
		r.GET("/read", func(c *gin.Context) {
			s := ginsession.Current(c)
			_, err1 := ginsession.Get[string](s, "platform_name")
			_, err2 := ginsession.Get[int](s, "platform_connection_id")
			if err1 != nil || err2 != nil {
				c.Status(500)
				return
			}
			c.Status(204)
		})
		r.GET("/read-user", func(c *gin.Context) {
			s := ginsession.Current(c)
			u, err := s.User()
			_, err1 := ginsession.Get[string](s, "platform_name")
			_, err2 := ginsession.Get[int](s, "platform_connection_id")
			if err != nil || u.ID == "" || err1 != nil || err2 != nil {
				c.Status(500)
				return
			}
			c.Status(204)
		})
		r.GET("/write", func(c *gin.Context) {
			if err := ginsession.Current(c).Set("platform_type", "pixelfed"); err != nil {
				c.Status(500)
				return
			}
			c.Status(204)
		})
	}
	with := gin.New()
	with.Use(mgr.Middleware())
	routes(with)
	bare := gin.New()
	routes(bare)

	w := httptest.NewRecorder()
	with.ServeHTTP(w, httptest.NewRequest("GET", "/login", nil))
	cookie := w.Header().Get("Set-Cookie")
	if cookie == "" {
		b.Fatal("login set no cookie")
	}
	cookie = cookie[:indexByte(cookie, ';')]

	run := func(name string, h http.Handler, path string) {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			if path != "/login" {
				req.Header.Set("Cookie", cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 204 {
					b.Fatalf("%s: status %d", path, rec.Code)
				}
			}
		})
	}
	run("none/untouched", bare, "/untouched")
	run("sqlite/untouched", with, "/untouched")
	run("sqlite/read", with, "/read")
	run("sqlite/read-user", with, "/read-user")
	run("sqlite/write", with, "/write")
	run("sqlite/login", with, "/login")
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}
