package ginsession_test

import (
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// A form page gets its CSRF token from the session; an unsafe request
// without it is refused before any handler runs.
func ExampleRequireCSRF() {
	st, keys, done := exampleSetup()
	defer done()
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}), csrf)
	r.GET("/form", func(c *gin.Context) {
		tok, err := ginsession.Current(c).CSRFToken()
		if err != nil {
			c.String(503, "try again")
			return
		}
		c.String(200, tok) // a page puts it in a hidden field or a meta tag
	})
	r.POST("/transfer", func(c *gin.Context) { c.String(200, "done") })

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/form", nil))
	cookie, token := w.Result().Cookies()[0], w.Body.String()
	post := func(tok string) {
		req := httptest.NewRequest("POST", "/transfer", nil)
		req.AddCookie(cookie)
		if tok != "" {
			req.Header.Set(ginsession.CSRFHeader, tok)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	post("")
	post(token)
	// Output:
	// 403 {"error":"missing or invalid CSRF token"}
	// 200 done
}

// An administrator ends every session of a user, wherever it was opened
// (after a password reset, say). A user's own "log out everywhere else" is
// Session.RevokeOthers.
func ExampleManager_RevokeUser() {
	st, keys, done := exampleSetup()
	defer done()
	m, err := ginsession.NewManager(ginsession.Config{Store: st, Keyring: keys})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.Use(m.Middleware())
	r.POST("/login", func(c *gin.Context) {
		_ = ginsession.Current(c).Login(ginsession.User{ID: "7", Username: "carol"})
	})
	r.POST("/admin/revoke/:user", func(c *gin.Context) { // behind your admin check
		n, err := m.RevokeUser(c.Request.Context(), c.Param("user"), "")
		if err != nil {
			c.String(503, "try again")
			return
		}
		c.String(200, "ended %d sessions", n)
	})
	r.GET("/me", func(c *gin.Context) {
		if u, ok := ginsession.CurrentUser(c); ok {
			c.String(200, u.Username)
			return
		}
		c.String(200, "anonymous")
	})
	login := func() string { // a browser of its own: returns its cookie
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
		ck := w.Result().Cookies()[0]
		return ck.Name + "=" + ck.Value
	}
	call := func(method, path, cookie string) {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Body.String())
	}
	laptop, phone := login(), login()
	call("GET", "/me", phone)
	call("POST", "/admin/revoke/7", "")
	call("GET", "/me", laptop)
	call("GET", "/me", phone)
	// Output:
	// carol
	// ended 2 sessions
	// anonymous
	// anonymous
}
