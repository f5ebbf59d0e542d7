package ginsession_test

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
)

// Handle loads the session like every other accessor: called first in a
// request of a stored session, it is that session's handle, not "" (which
// made RevokeUser(ctx, id, Current(c).Handle()) end the current session
// too).
func TestHandleLoadsTheSession(t *testing.T) {
	m, err := ginsession.NewManager(ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t), Cookie: ginsession.CookieOptions{Insecure: true}})
	require.NoError(t, err)
	r := gin.New()
	r.Use(m.Middleware())
	r.POST("/login", func(c *gin.Context) { require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "1"})) })
	r.GET("/handle", func(c *gin.Context) { c.String(200, ginsession.Current(c).Handle()) })
	r.GET("/list", func(c *gin.Context) {
		list, err := m.UserSessions(c.Request.Context(), "1")
		require.NoError(t, err)
		require.Len(t, list, 1)
		c.String(200, list[0].Handle)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	ck := w.Result().Cookies()[0]
	get := func(path, cookie string) string {
		req := httptest.NewRequest("GET", path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Body.String()
	}
	listed := get("/list", "")
	require.NotEmpty(t, listed)
	require.Equal(t, listed, get("/handle", ck.Name+"="+ck.Value))
	require.Empty(t, get("/handle", ""), "a new session has no handle yet")
}
