package ginsession_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// exampleSetup opens a throwaway SQLite store and key ring.
func exampleSetup() (store.Store, *store.Keyring, func()) {
	dir, _ := os.MkdirTemp("", "ginsession-example-")
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "s.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	kr, _ := store.ParseKeyring(store.GenerateKey())
	return st, kr, func() { _ = st.Close(); _ = os.RemoveAll(dir) }
}

// browse sends requests with a minimal cookie jar and prints the bodies.
func browse(h http.Handler, reqs ...string) {
	var cookie string
	for _, r := range reqs {
		method, path := "GET", r
		if r[0] == '+' {
			method, path = "POST", r[1:]
		}
		req := httptest.NewRequest(method, path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		for _, ck := range w.Result().Cookies() {
			cookie = ck.Name + "=" + ck.Value
			if ck.MaxAge < 0 {
				cookie = ""
			}
		}
		fmt.Println(w.Body.String())
	}
}

func ExampleNew() {
	st, keys, done := exampleSetup()
	defer done()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Current(c)
		n := ginsession.GetOr(s, "visits", 0)
		_ = s.Set("visits", n+1)
		c.String(200, "visit %d", n+1)
	})
	browse(r, "/", "/", "/")
	// Output:
	// visit 1
	// visit 2
	// visit 3
}

func ExampleGet() {
	st, keys, done := exampleSetup()
	defer done()
	type Cart struct {
		Items []string
		Total float64
	}
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.GET("/add", func(c *gin.Context) {
		s := ginsession.Current(c)
		cart := ginsession.GetOr(s, "cart", Cart{})
		cart.Items = append(cart.Items, "book")
		cart.Total += 12.5
		if err := s.Set("cart", cart); err != nil { // encoding errors surface here
			c.String(400, err.Error())
			return
		}
		c.String(200, "%v %.2f", cart.Items, cart.Total)
	})
	browse(r, "/add", "/add")
	// Output:
	// [book] 12.50
	// [book book] 25.00
}

func ExampleSession_Login() {
	st, keys, done := exampleSetup()
	defer done()
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.POST("/login", func(c *gin.Context) {
		// Check the password first; then:
		if err := ginsession.Current(c).Login(ginsession.User{ID: "1", Username: "alice", Role: "admin"}); err != nil {
			c.String(500, "login failed")
			return
		}
		c.String(200, "welcome")
	})
	r.GET("/me", func(c *gin.Context) {
		if u, ok := ginsession.CurrentUser(c); ok {
			c.String(200, "%s (%s)", u.Username, u.Role)
			return
		}
		c.String(200, "anonymous")
	})
	r.POST("/logout", func(c *gin.Context) {
		_ = ginsession.Current(c).Logout()
		c.String(200, "bye")
	})
	browse(r, "/me", "+/login", "/me", "+/logout", "/me")
	// Output:
	// anonymous
	// welcome
	// alice (admin)
	// bye
	// anonymous
}

func ExampleSession_Rotate() {
	st, keys, done := exampleSetup()
	defer done()
	var log []string
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{
		Store: st, Keyring: keys,
		OnRotate: []ginsession.RotateHook{func(_ context.Context, rot ginsession.Rotation) error {
			log = append(log, "rotating for "+rot.Reason)
			return nil
		}},
	}))
	r.POST("/sudo", func(c *gin.Context) {
		s := ginsession.Current(c)
		_ = s.Set("elevated", true)
		if err := ginsession.Current(c).Rotate("rotate"); err != nil {
			c.String(500, "rotation failed")
			return
		}
		c.String(200, "elevated: %v", ginsession.GetOr(s, "elevated", false))
	})
	browse(r, "+/sudo")
	fmt.Println(log)
	// Output:
	// elevated: true
	// [rotating for rotate]
}
