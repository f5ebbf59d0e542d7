package ginsession_test

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
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

// csrfRouter serves a's sessions behind RequireCSRF, with GET /token
// answering the session's CSRF token.
func csrfRouter(t *testing.T, a *app) *gin.Engine {
	t.Helper()
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	require.NoError(t, err)
	r := gin.New()
	r.Use(a.mgr.Middleware(), csrf)
	r.GET("/token", func(c *gin.Context) {
		tok, err := ginsession.Current(c).CSRFToken()
		require.NoError(t, err)
		c.String(200, tok)
	})
	return r
}

func TestRequireCSRF(t *testing.T) {
	a := newApp(t, nil, nil)
	r := csrfRouter(t, a)
	changed := 0
	r.POST("/change", func(c *gin.Context) { changed++; c.Status(204) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	get := func(c *client) string {
		resp, err := c.hc.Get(srv.URL + "/token")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	victim, other := a.client(), a.client()
	tok, otherTok := get(victim), get(other)
	require.Len(t, tok, 27, "a visitor token: 4 + 16 bytes, base64url")

	post := func(c *client, header http.Header, form url.Values) int {
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest("POST", srv.URL+"/change", body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name   string
		c      *client
		header http.Header
		form   url.Values
		want   int
	}{
		{"missing", victim, nil, nil, 403},
		{"another session's token", victim, http.Header{"X-Csrf-Token": {otherTok}}, nil, 403},
		{"short", victim, http.Header{"X-Csrf-Token": {tok[:20]}}, nil, 403},
		{"long", victim, http.Header{"X-Csrf-Token": {tok + "AAAA"}}, nil, 403},
		{"not base64", victim, http.Header{"X-Csrf-Token": {strings.Repeat("!", 43)}}, nil, 403},
		{"no session", a.client(), http.Header{"X-Csrf-Token": {tok}}, nil, 403},
		{"cross-site with a valid token", victim, http.Header{"X-Csrf-Token": {tok}, "Sec-Fetch-Site": {"cross-site"}}, nil, 403},
		{"foreign origin with a valid token", victim, http.Header{"X-Csrf-Token": {tok}, "Origin": {"https://evil.example"}}, nil, 403},
		{"header", victim, http.Header{"X-Csrf-Token": {tok}}, nil, 204},
		{"form field", victim, nil, url.Values{"csrf_token": {tok}}, 204},
		{"same-origin fetch", victim, http.Header{"X-Csrf-Token": {tok}, "Sec-Fetch-Site": {"same-origin"}}, nil, 204},
	}
	want := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, post(tc.c, tc.header, tc.form))
			if tc.want == 204 {
				want++
			}
			assert.Equal(t, want, changed, "a refused request changes nothing")
		})
	}

	// A huge form without a token is refused without reading it all.
	req, _ := http.NewRequest("POST", srv.URL+"/change", strings.NewReader("csrf_token=x&data="+strings.Repeat("A", 8<<20)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := victim.hc.Do(req)
	if err == nil {
		assert.Equal(t, 403, resp.StatusCode)
		resp.Body.Close()
	}
	assert.Equal(t, want, changed)
}

// A session keeps the 32-byte token issued before tokens were 16 bytes,
// so pages that hold it keep working until the next login or rotation.
func TestCSRFTokenIssuedBefore(t *testing.T) {
	st := sqliteStore(t)
	a := newApp(t, st, nil)
	r := csrfRouter(t, a)
	r.POST("/change", func(c *gin.Context) { c.Status(204) })
	srv := newServer(t, r)

	old := make([]byte, 32)
	_, _ = rand.Read(old)
	now := time.Now()
	c := plant(t, a, st, "", now, now.Add(time.Hour), map[string]any{"\x00c": old, "\x00a": store.Millis(now.Add(time.Hour)).UnixMilli()})
	want := base64.RawURLEncoding.EncodeToString(old)
	_, body := srv.do(c, "GET", "/token")
	assert.Equal(t, want, body, "the token is not renewed")
	post := func(tok string) int {
		req, err := http.NewRequest("POST", srv.srv.URL+"/change", nil)
		require.NoError(t, err)
		req.Header.Set(ginsession.CSRFHeader, tok)
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 204, post(want))
	assert.Equal(t, 403, post(base64.RawURLEncoding.EncodeToString(old[:16])), "its first 16 bytes are not a token")
}
