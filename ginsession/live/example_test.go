package live_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/store"
)

func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "live-example-")
	defer os.RemoveAll(dir)
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	keys, _ := store.ParseKeyring(store.GenerateKey())

	broker := live.NewLocalBroker() // or a *redisstore.Store, across instances
	pub := live.NewPublisher(broker, live.PublisherOptions{})
	defer pub.Close()
	mgr, _ := ginsession.NewManager(ginsession.Config{Store: st, Keyring: keys, Cookie: ginsession.CookieOptions{Insecure: true},
		OnEvent: []ginsession.EventHandler{pub.Handle}})

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(mgr.Middleware())
	r.GET("/api/events", live.Handler(broker, live.Options{}))
	r.POST("/login", func(c *gin.Context) { _ = ginsession.Current(c).Login(ginsession.User{ID: "1"}) })
	r.POST("/logout", func(c *gin.Context) { _ = ginsession.Current(c).Logout() })
	r.POST("/switch", func(c *gin.Context) {
		// What platform.Switch does after its checks.
		if _, ok := ginsession.CurrentUser(c); ok {
			ginsession.Current(c).Emit(ginsession.EventPlatformSwitched, "2")
		}
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	tab := &http.Client{Jar: jar}
	post := func(path string) {
		resp, err := tab.Post(srv.URL+path, "", nil)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	post("/login")

	stream, err := tab.Get(srv.URL + "/api/events") // another tab of the same browser
	if err != nil {
		panic(err)
	}
	defer stream.Body.Close()
	fmt.Println(stream.Header.Get("Content-Type"))
	post("/switch")
	post("/logout")
	lines := bufio.NewScanner(stream.Body)
	for lines.Scan() { // until the server ends the stream, after logout
		if l := lines.Text(); strings.HasPrefix(l, "id:") || strings.HasPrefix(l, "event:") {
			fmt.Println(l)
		}
	}
	// Output:
	// text/event-stream
	// id: 1
	// event: platform_switched
	// id: 2
	// event: logout
}
