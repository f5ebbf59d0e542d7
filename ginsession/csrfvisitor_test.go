package ginsession_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// A visitor's CSRF token costs no stored session, works only with the
// cookie it was made for, expires, survives a key rotation, and is refused
// once the session belongs to a user.
func TestVisitorCSRF(t *testing.T) {
	clk := &clock{now: time.Now()}
	k1, k2 := store.GenerateKey(), store.GenerateKey()
	ring1, err := store.ParseKeyring(k1)
	require.NoError(t, err)
	a := newApp(t, nil, func(c *ginsession.Config) { c.Now = clk.Now; c.Keyring = ring1 })
	r := csrfRouter(t, a)
	r.POST("/change", func(c *gin.Context) { c.Status(204) })
	r.POST("/login", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "u1"}))
		c.Status(204)
	})
	srv := newServer(t, r)
	u, _ := url.Parse(srv.srv.URL)

	token := func(c *client) string {
		resp, body := srv.do(c, "GET", "/token")
		require.Equal(t, 200, resp.StatusCode)
		return body
	}
	post := func(c *client, path, tok string) int {
		req, _ := http.NewRequest("POST", srv.srv.URL+path, nil)
		req.Header.Set(ginsession.CSRFHeader, tok)
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	csrfCookie := func(c *client) *http.Cookie {
		for _, ck := range c.jar.Cookies(u) {
			if strings.HasSuffix(ck.Name, "-csrf") {
				return ck
			}
		}
		return nil
	}

	v, w := a.client(), a.client()
	tok := token(v)
	assert.Len(t, tok, 27)
	assert.NotNil(t, csrfCookie(v), "the token's cookie is set")
	assert.Empty(t, v.cookie(), "no session cookie")
	first := csrfCookie(v).Value
	again := token(v)
	assert.Equal(t, first, csrfCookie(v).Value, "the cookie is kept, so every tab's token stays valid")
	wtok := token(w)
	assert.EqualValues(t, 0, a.store.puts.Load(), "a visitor token stores nothing")

	assert.Equal(t, 204, post(v, "/change", tok))
	assert.Equal(t, 204, post(v, "/change", again), "a second tab's token works with the same cookie")
	assert.Equal(t, 403, post(v, "/change", wtok), "another visitor's token")
	assert.Equal(t, 403, post(a.client(), "/change", tok), "a token without its cookie")
	forged := []byte(tok)
	forged[10] ^= 1
	assert.Equal(t, 403, post(v, "/change", string(forged)))
	assert.EqualValues(t, 0, a.store.puts.Load(), "checks store nothing either")

	// A rotated ring (new key first, old key kept) still takes it; a ring
	// without its key does not.
	ring2, err := store.ParseKeyring(k2)
	require.NoError(t, err)
	serve := func(kr *store.Keyring) *server {
		cfg := a.mgr.Config()
		cfg.Keyring = kr
		m, err := ginsession.NewManager(cfg)
		require.NoError(t, err)
		csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
		require.NoError(t, err)
		e := gin.New()
		e.Use(m.Middleware(), csrf)
		e.POST("/change", func(c *gin.Context) { c.Status(204) })
		return newServer(t, e)
	}
	postTo := func(s *server, tok string) int {
		req, _ := http.NewRequest("POST", s.srv.URL+"/change", nil)
		req.Header.Set(ginsession.CSRFHeader, tok)
		resp, err := v.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	both, err := store.ParseKeyring(k2 + "," + k1)
	require.NoError(t, err)
	assert.Equal(t, 204, postTo(serve(both), tok), "the old key still opens")
	assert.Equal(t, 403, postTo(serve(ring2), tok), "a retired key does not")

	// It expires with VisitorCSRFLifetime (2 h by default).
	clk.Advance(2*time.Hour + time.Second)
	assert.Equal(t, 403, post(v, "/change", tok), "expired")
	tok = token(v)
	assert.Equal(t, 204, post(v, "/change", tok))

	// Logged in, only the session's own token counts.
	require.Equal(t, 204, post(v, "/login", tok))
	assert.Equal(t, 403, post(v, "/change", tok), "a visitor token after login")
	own := token(v)
	assert.Len(t, own, 22, "the session's token")
	assert.Equal(t, 204, post(v, "/change", own))
}

// The base64 decoder skips '\r' and '\n', so a token or cookie of the right
// length can hold fewer bytes than its length says. A form field may carry
// them (a header cannot), and a short token once reached a slice past its
// end: every such text is a plain 403, for visitors and users alike.
func TestCSRFTokenWithNewlines(t *testing.T) {
	a := newApp(t, nil, nil)
	r := csrfRouter(t, a)
	r.POST("/change", func(c *gin.Context) { c.Status(204) })
	r.POST("/login", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "u1"}))
		c.Status(204)
	})
	srv := newServer(t, r)
	postForm := func(c *client, path, tok string) int {
		req, _ := http.NewRequest("POST", srv.srv.URL+path, strings.NewReader(url.Values{"csrf_token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	v := a.client()
	resp, tok := srv.do(v, "GET", "/token")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 204, postForm(v, "/change", tok), "the form field works")
	for _, bad := range []string{
		strings.Repeat("\n", len(tok)),
		"AAAA" + strings.Repeat("\r", len(tok)-4),
		tok[:len(tok)-1] + "\n",
		tok[:4] + "\r\n" + tok[6:],
	} {
		assert.Equal(t, 403, postForm(v, "/change", bad), "visitor token %q", bad)
	}

	require.Equal(t, 204, postForm(v, "/login", tok))
	resp, own := srv.do(v, "GET", "/token")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 204, postForm(v, "/change", own))
	for _, bad := range []string{strings.Repeat("\n", len(own)), own[:len(own)-1] + "\n", own[:2] + "\r" + own[3:]} {
		assert.Equal(t, 403, postForm(v, "/change", bad), "session token %q", bad)
	}
}
