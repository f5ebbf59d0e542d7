package ginsession_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// An API client without a cookie jar sends its session token as
// "Authorization: Bearer <token>". Its handler answers a new token after
// a login or rotation, since no Set-Cookie carries it; and it needs no
// CSRF token, as a browser never sends that header on its own.
func ExampleTokenHeaderOptions() {
	st, keys, done := exampleSetup()
	defer done()
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys,
		TokenHeader: ginsession.TokenHeaderOptions{Enabled: true}}))
	r.POST("/token", func(c *gin.Context) { // the API's login, outside RequireCSRF here
		s := ginsession.Current(c)
		if err := s.Login(ginsession.User{ID: "42"}); err != nil {
			c.String(503, "try again")
			return
		}
		tok, _ := s.Token()
		c.JSON(200, gin.H{"token": tok.String()})
	})
	api := r.Group("/api", csrf)
	api.POST("/notes", func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		c.String(200, "note saved for "+u.ID)
	})

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/token", nil))
	var login struct{ Token string }
	_ = json.Unmarshal(w.Body.Bytes(), &login)

	post := func(cookie bool) {
		req := httptest.NewRequest("POST", "/api/notes", nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		if cookie {
			req.Header.Set("Cookie", w.Result().Cookies()[0].Name+"="+login.Token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()), rec.Header().Values("Set-Cookie"))
	}
	post(false)
	post(true) // a cookie and a header: which to believe is a guess
	// Output:
	// 200 note saved for 42 []
	// 400 {"error":"session token in both a cookie and a header"} []
}
