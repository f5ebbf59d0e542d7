package live_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testapp"
)

// Options.Session points the handlers at a named session: the admin
// area's state is the admin session's, not the application's.
func TestStateHandlerNamed(t *testing.T) {
	mk := func(name string) *ginsession.Manager {
		st, err := dbstore.Open(context.Background(), dbFile(t), dbstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		m, err := ginsession.NewManager(ginsession.Config{Name: name, Store: st, Keyring: testapp.Keyring(t), Cookie: ginsession.CookieOptions{Insecure: true}})
		require.NoError(t, err)
		return m
	}
	app, admin := mk(""), mk("admin")
	r := gin.New()
	r.Use(app.Middleware(), admin.Middleware())
	r.POST("/login", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "alice"}))
		require.NoError(t, ginsession.CurrentNamed(c, "admin").Login(ginsession.User{ID: "root"}))
	})
	r.GET("/state", live.StateHandler(live.Options{}))
	r.GET("/admin/state", live.StateHandler(live.Options{Session: "admin"}))
	r.GET("/nobody/state", live.StateHandler(live.Options{Session: "nobody"}))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	br := newBrowser(t)
	br.must("POST", srv.URL+"/login")
	for path, want := range map[string]string{"/state": "alice", "/admin/state": "root"} {
		var s live.State
		require.NoError(t, json.Unmarshal([]byte(br.must("GET", srv.URL+path)), &s))
		assert.Equal(t, want, s.UserID, path)
	}
	code, body := br.do("GET", srv.URL+"/nobody/state", nil)
	assert.Equal(t, 500, code, body)
}
