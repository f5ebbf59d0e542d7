package ginsession_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// An application session and an admin session on one router: each has its
// own name, cookie, timeouts, store and CSRF token.
func ExampleCurrentNamed() {
	appStore, keys, done := exampleSetup()
	defer done()
	adminStore, _, done2 := exampleSetup() // in production, perhaps Redis and SQL
	defer done2()

	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: appStore, Keyring: keys}))
	r.POST("/login", func(c *gin.Context) {
		_ = ginsession.Current(c).Login(ginsession.User{ID: "alice"})
		c.String(200, "app: alice")
	})

	admin := r.Group("/admin", ginsession.New(ginsession.Config{
		Name:        "admin", // its cookie is __Host-session-admin
		Store:       adminStore,
		Keyring:     keys,
		IdleTimeout: 15 * time.Minute,
	}))
	csrf, _ := ginsession.RequireCSRF(ginsession.CSRFOptions{Session: "admin"})
	admin.POST("/login", func(c *gin.Context) {
		_ = ginsession.CurrentNamed(c, "admin").Login(ginsession.User{ID: "root"})
		c.String(200, "admin: root")
	})
	admin.GET("/token", func(c *gin.Context) {
		tok, _ := ginsession.CurrentNamed(c, "admin").CSRFToken()
		c.String(200, tok)
	})
	admin.POST("/purge", csrf, ginsession.RequireRecentLoginNamed("admin", 5*time.Minute), func(c *gin.Context) {
		app, _ := ginsession.CurrentUser(c)
		adm, _ := ginsession.CurrentUserNamed(c, "admin")
		c.String(200, "purged by %s (browsing as %s)", adm.ID, app.ID)
	})

	b := &jar{h: r}
	fmt.Println(b.do("POST", "/login", ""))
	fmt.Println(b.do("POST", "/admin/login", ""))
	fmt.Println(b.cookies())
	fmt.Println(b.do("POST", "/admin/purge", ""))
	fmt.Println(b.do("POST", "/admin/purge", b.do("GET", "/admin/token", "")))
	// Output:
	// app: alice
	// admin: root
	// [__Host-session __Host-session-admin]
	// {"error":"missing or invalid CSRF token"}
	// purged by root (browsing as alice)
}

// jar is a browser of many cookies, for examples: it sends every cookie it
// holds, and the CSRF token when given one.
type jar struct {
	h    http.Handler
	vals map[string]string
	keys []string
}

func (j *jar) do(method, path, token string) string {
	req := httptest.NewRequest(method, "https://example.com"+path, nil)
	for _, k := range j.keys {
		req.AddCookie(&http.Cookie{Name: k, Value: j.vals[k]})
	}
	if token != "" {
		req.Header.Set(ginsession.CSRFHeader, token)
	}
	w := httptest.NewRecorder()
	j.h.ServeHTTP(w, req)
	for _, ck := range w.Result().Cookies() {
		if j.vals == nil {
			j.vals = map[string]string{}
		}
		if _, ok := j.vals[ck.Name]; !ok {
			j.keys = append(j.keys, ck.Name)
		}
		j.vals[ck.Name] = ck.Value
	}
	return strings.TrimSpace(w.Body.String())
}

func (j *jar) cookies() []string { return j.keys }
