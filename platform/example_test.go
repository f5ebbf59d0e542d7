package platform_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

func ExampleMiddleware() {
	dir, _ := os.MkdirTemp("", "platform-example-")
	defer os.RemoveAll(dir)
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	keys, _ := store.ParseKeyring(store.GenerateKey())

	// The application's connections: user "1" owns 1 and 2, user "2" owns 3.
	owned := map[int64]platform.Context{
		1: {ConnectionID: 1, Name: "mastodon-main", Type: "mastodon"},
		2: {ConnectionID: 2, Name: "pixelfed-photos", Type: "pixelfed"},
		3: {ConnectionID: 3, Name: "bob-mastodon", Type: "mastodon"},
	}
	owner := map[int64]string{1: "1", 2: "1", 3: "2"}
	loader := func(_ context.Context, userID string, id int64) (*platform.Context, error) {
		pc, ok := owned[id]
		if !ok || owner[id] != userID {
			return nil, platform.ErrNotFound
		}
		return &pc, nil
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.Use(platform.Middleware(loader))
	r.POST("/login", func(c *gin.Context) {
		_ = ginsession.Current(c).Login(ginsession.User{ID: "1", Username: "alice"})
		c.String(200, "logged in")
	})
	r.POST("/platform/:id", func(c *gin.Context) {
		id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
		pc, err := platform.Switch(c, id)
		if errors.Is(err, platform.ErrForbidden) {
			c.String(403, "forbidden")
			return
		}
		c.String(200, "switched to %s", pc.Name)
	})
	r.GET("/dash", platform.Require(), func(c *gin.Context) {
		pc := c.MustGet(platform.Key).(*platform.Context)
		c.String(200, "working in %s (%s)", pc.Name, pc.Type)
	})

	cookie := ""
	send := func(method, path string) {
		req := httptest.NewRequest(method, "https://example.com"+path, nil)
		req.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		for _, ck := range w.Result().Cookies() {
			cookie = ck.Name + "=" + ck.Value
		}
		fmt.Println(w.Code, w.Body.String())
	}
	send("GET", "/dash")
	send("POST", "/login")
	send("GET", "/dash")
	send("POST", "/platform/2")
	send("GET", "/dash")
	send("POST", "/platform/3")
	send("GET", "/dash")
	// Output:
	// 401 {"error":"not logged in"}
	// 200 logged in
	// 409 {"error":"no platform selected"}
	// 200 switched to pixelfed-photos
	// 200 working in pixelfed-photos (pixelfed)
	// 403 forbidden
	// 200 working in pixelfed-photos (pixelfed)
}
