package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

// Options.Session binds the platform to a named session: the admin
// session's user switches and sees its platform while the application's
// session stays anonymous.
func TestPlatformOnNamedSession(t *testing.T) {
	kr, err := store.ParseKeyring(store.GenerateKey())
	require.NoError(t, err)
	mk := func(name string) *ginsession.Manager {
		st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		m, err := ginsession.NewManager(ginsession.Config{Name: name, Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true}})
		require.NoError(t, err)
		return m
	}
	conns := newConnections(t)
	pm, err := platform.New(conns.load, platform.Options{Session: "admin"})
	require.NoError(t, err)
	r := gin.New()
	r.Use(mk("").Middleware(), mk("admin").Middleware(), pm.Middleware())
	r.POST("/admin/login", func(c *gin.Context) {
		require.NoError(t, ginsession.CurrentNamed(c, "admin").Login(ginsession.User{ID: "1"}))
	})
	r.POST("/switch", func(c *gin.Context) {
		if _, err := platform.Switch(c, 2); err != nil {
			c.String(500, err.Error())
		}
	})
	r.GET("/platform", platform.Require(), func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		c.JSON(200, gin.H{"platform": c.MustGet(platform.Key), "app_user": u.ID})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := do("GET", "/platform")
	assert.Equal(t, 401, code, "no admin login yet")
	code, body := do("POST", "/admin/login")
	require.Equal(t, 200, code, body)
	code, body = do("POST", "/switch")
	require.Equal(t, 200, code, body)
	code, body = do("GET", "/platform")
	require.Equal(t, 200, code, body)
	var got struct {
		Platform platform.Context `json:"platform"`
		AppUser  string           `json:"app_user"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, int64(2), got.Platform.ConnectionID)
	assert.Empty(t, got.AppUser, "the application session is not the one logged in")
}
