package testapp

import (
	"context"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"

	_ "modernc.org/sqlite" // NewLive opens an SQLite file
)

// Live is one instance of the cross-tab test app: its own store handle on
// a shared SQLite file, its own session manager, its own publisher and
// broker client, its own HTTP server.
type Live struct {
	Srv *httptest.Server
	Mgr *ginsession.Manager
	Pub *live.Publisher
	// Streams counts requests to /events.
	Streams atomic.Int64
}

func platformLoader(_ context.Context, userID string, id int64) (*platform.Context, error) {
	if userID != "" && id > 0 && id < 10 {
		return &platform.Context{ConnectionID: id, Name: "conn-" + strconv.FormatInt(id, 10), Type: "mastodon"}, nil
	}
	return nil, platform.ErrNotFound
}

// NewLive serves the test app on a new httptest server (closed at t's
// cleanup): session routes (POST /login/:id, /platform/:id, /rotate,
// /logout, /anon; DELETE /sessions/:handle; GET /whoami, /handle), the live
// routes (/events, /state, /live.js), a page running the client script
// (/page: it records what the script reports in window.got and
// window.kinds) and a plain page (/bye, the script's login URL). Platforms
// 1-9 exist for every logged-in user.
func NewLive(t testing.TB, dbURL string, kr *store.Keyring, b store.Broker, opts live.Options, tweak ...func(*ginsession.Config)) *Live {
	t.Helper()
	st, err := dbstore.Open(context.Background(), dbURL, dbstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	pub := live.NewPublisher(b, live.PublisherOptions{})
	t.Cleanup(pub.Close)
	cfg := ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true},
		OnEvent: []ginsession.EventHandler{pub.Handle}}
	for _, f := range tweak {
		f(&cfg)
	}
	mgr, err := ginsession.NewManager(cfg)
	require.NoError(t, err)
	if opts.Platform == nil {
		opts.Platform = func(c *gin.Context) any {
			pc, ok := platform.From(c)
			if !ok {
				return nil
			}
			return pc
		}
	}
	r := gin.New()
	r.Use(mgr.Middleware(), platform.Middleware(platformLoader))
	ok := func(c *gin.Context, err error) {
		if err != nil {
			c.JSON(500, gin.H{"error": err.Error()})
			return
		}
		c.JSON(200, gin.H{})
	}
	r.POST("/login/:id", func(c *gin.Context) { ok(c, ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")})) })
	r.POST("/platform/:id", func(c *gin.Context) {
		id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
		_, err := platform.Switch(c, id)
		ok(c, err)
	})
	r.POST("/rotate", func(c *gin.Context) { ok(c, ginsession.Current(c).Rotate("rotate")) })
	r.POST("/logout", func(c *gin.Context) { ok(c, ginsession.Current(c).Logout()) })
	r.POST("/anon", func(c *gin.Context) { ok(c, ginsession.Current(c).Set("k", "v")) })
	r.DELETE("/sessions/:handle", func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		ok(c, mgr.RevokeSession(c.Request.Context(), u.ID, c.Param("handle")))
	})
	r.GET("/whoami", func(c *gin.Context) {
		u, in := ginsession.CurrentUser(c)
		if !in {
			c.String(200, "anonymous")
			return
		}
		c.String(200, u.ID)
	})
	r.GET("/handle", func(c *gin.Context) { c.String(200, ginsession.Current(c).Handle()) })
	inst := &Live{Mgr: mgr, Pub: pub}
	r.GET("/events", func(c *gin.Context) { inst.Streams.Add(1) }, live.Handler(b, opts))
	r.GET("/state", live.StateHandler(opts))
	r.GET("/live.js", live.ScriptHandler())
	r.GET("/page", func(c *gin.Context) { c.Data(200, "text/html; charset=utf-8", []byte(LivePage)) })
	r.GET("/bye", func(c *gin.Context) {
		c.Data(200, "text/html; charset=utf-8", []byte("<!doctype html><title>bye</title>"))
	})
	inst.Srv = httptest.NewServer(r)
	t.Cleanup(inst.Srv.Close)
	return inst
}

// LivePage is an application page using the client script: it records
// what the script reports.
const LivePage = `<!doctype html><title>live</title>
<script src="/live.js"></script>
<script>
window.got = []; window.kinds = [];
SessionLive.connect({url: "/events", stateURL: "/state", loginURL: "/bye",
  onPlatform: function (m) { window.got.push(m.detail); },
  onEvent: function (kind) { window.kinds.push(kind); }});
</script>`
