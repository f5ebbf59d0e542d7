package ginsession_test

import (
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// A "remember me" box makes the login's cookie persistent and gives that
// session alone the longer lifetime (Config.RememberLifetime, 30 days by
// default); an ordinary login keeps a browser-session cookie.
func ExampleSession_Login_remember() {
	st, keys, done := exampleSetup()
	defer done()
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.POST("/login", func(c *gin.Context) {
		opts := ginsession.LoginOptions{Remember: c.PostForm("remember") == "on"}
		if err := ginsession.Current(c).Login(ginsession.User{ID: "42"}, opts); err != nil {
			c.String(503, "try again")
			return
		}
		c.String(200, "welcome")
	})

	for _, form := range []string{"remember=on", ""} {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		ck := w.Result().Cookies()[0]
		fmt.Printf("%q: Max-Age %d s\n", form, ck.MaxAge)
	}
	// Output:
	// "remember=on": Max-Age 2592000 s
	// "": Max-Age 0 s
}
