package ginsession_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/store"
)

// bearerApp serves sessions behind RequireCSRF with the token header on:
// POST /login/:id and /rotate answer {"token": ...} from Session.Token,
// POST /change sets a value, POST /logout; GET /whoami, /csrf (the CSRF
// token), /token (Session.Token, or "none").
type bearerApp struct {
	t      *testing.T
	srv    *httptest.Server
	mgr    *ginsession.Manager
	events *eventLog
	logs   *syncBuffer
}

func newBearerApp(t *testing.T, tweak func(*ginsession.Config)) *bearerApp {
	a := &bearerApp{t: t, events: &eventLog{}, logs: &syncBuffer{}}
	cfg := ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t),
		Cookie:      ginsession.CookieOptions{Insecure: true},
		TokenHeader: ginsession.TokenHeaderOptions{Enabled: true},
		OnEvent:     []ginsession.EventHandler{a.events.add},
		Logger:      slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := ginsession.NewManager(cfg)
	require.NoError(t, err)
	a.mgr = m
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	require.NoError(t, err)
	r := gin.New()
	r.Use(m.Middleware(), csrf)
	answerToken := func(c *gin.Context, err error) {
		if err != nil {
			c.String(500, err.Error())
			return
		}
		tok, ok := ginsession.Current(c).Token()
		if !ok {
			c.String(500, "no token")
			return
		}
		c.JSON(200, gin.H{"token": tok.String()})
	}
	r.POST("/login/:id", func(c *gin.Context) {
		answerToken(c, ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")}))
	})
	r.POST("/rotate", func(c *gin.Context) { answerToken(c, ginsession.Current(c).Rotate("test")) })
	r.POST("/change", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Set("k", "changed"))
		c.String(200, "changed")
	})
	r.POST("/logout", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Logout())
		c.String(200, "out")
	})
	r.GET("/whoami", func(c *gin.Context) {
		u, ok := ginsession.CurrentUser(c)
		if !ok {
			c.String(200, "anonymous")
			return
		}
		c.String(200, u.ID)
	})
	r.GET("/csrf", func(c *gin.Context) {
		tok, err := ginsession.Current(c).CSRFToken()
		require.NoError(t, err)
		c.String(200, tok)
	})
	r.GET("/token", func(c *gin.Context) {
		if _, ok := ginsession.Current(c).Token(); !ok {
			c.String(200, "none")
			return
		}
		c.String(200, "some")
	})
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

// do sends a request with hc (its jar, if any) and the given headers.
func (a *bearerApp) do(hc *http.Client, method, path string, hdr ...string) (*http.Response, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	require.NoError(a.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	require.NoError(a.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

// browser logs in through the visitor CSRF token, as a login form does,
// and returns its client and the token the login answered.
func (a *bearerApp) browser(id string) (*http.Client, string) {
	a.t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	_, csrf := a.do(hc, "GET", "/csrf")
	resp, body := a.do(hc, "POST", "/login/"+id, ginsession.CSRFHeader, csrf)
	require.Equal(a.t, 200, resp.StatusCode, body)
	require.NotEmpty(a.t, resp.Header.Values("Set-Cookie"), "a browser's login sets the cookie")
	var out struct{ Token string }
	require.NoError(a.t, json.Unmarshal([]byte(body), &out))
	return hc, out.Token
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// The token a login issues works in the Authorization header, with no
// cookie and no CSRF token; the cookie still needs its CSRF token; both at
// once are refused. Every rule over real HTTP.
func TestBearerToken(t *testing.T) {
	a := newBearerApp(t, nil)
	browser, tok := a.browser("7")
	require.Len(t, tok, store.TokenLen)
	api := &http.Client{} // no jar: only the header

	resp, body := a.do(api, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "7", body, "the header names the session")
	assert.Empty(t, resp.Header.Values("Set-Cookie"), "a header session gets no cookie")
	_, body = a.do(api, "GET", "/whoami", "Authorization", "bearer "+tok)
	assert.Equal(t, "7", body, "the scheme in any case (RFC 7235)")

	// CSRF, per source.
	resp, body = a.do(api, "POST", "/change", bearer(tok)...)
	assert.Equal(t, 200, resp.StatusCode, "a header session needs no CSRF token: %s", body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	resp, _ = a.do(api, "POST", "/change", append(bearer(tok), "Sec-Fetch-Site", "cross-site")...)
	assert.Equal(t, 200, resp.StatusCode, "no ambient credential, nothing to forge")
	resp, _ = a.do(browser, "POST", "/change")
	assert.Equal(t, 403, resp.StatusCode, "the cookie still needs its CSRF token")
	_, csrf := a.do(browser, "GET", "/csrf")
	resp, _ = a.do(browser, "POST", "/change", ginsession.CSRFHeader, csrf)
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = a.do(browser, "POST", "/change", ginsession.CSRFHeader, csrf, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, 403, resp.StatusCode)

	// Both at once: 400 before any handler, whatever the method.
	before := len(a.events.kinds())
	for _, method := range []string{"GET", "POST"} {
		resp, body = a.do(browser, method, "/change", append(bearer(tok), ginsession.CSRFHeader, csrf)...)
		assert.Equal(t, 400, resp.StatusCode, method)
		assert.JSONEq(t, `{"error":"session token in both a cookie and a header"}`, body)
		assert.Empty(t, resp.Header.Values("Set-Cookie"))
	}
	assert.Equal(t, []string{"rejected:conflict", "rejected:conflict"}, a.events.kinds()[before:])
	resp, _ = a.do(browser, "GET", "/whoami", "Authorization", "Bearer not-a-token")
	assert.Equal(t, 400, resp.StatusCode, "a malformed header token beside a cookie is a conflict too")
	_, body = a.do(browser, "GET", "/whoami", "Authorization", "Basic dXNlcjpwYXNz")
	assert.Equal(t, "7", body, "other schemes are not session tokens")

	// Anything but exactly one canonical token is no session.
	for _, hdr := range [][]string{
		{"Authorization", "Bearer " + tok + "x"},
		{"Authorization", "Bearer  " + tok},
		{"Authorization", "Bearer " + tok[:42] + "B"}, // not canonical
		{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok},
		{"Authorization", "Bearer " + store.NewToken().String()}, // unknown
	} {
		resp, body = a.do(api, "GET", "/whoami", hdr...)
		assert.Equal(t, "anonymous", body, hdr)
		assert.Empty(t, resp.Header.Values("Set-Cookie"), "no cookie set or cleared for a header client")
		resp, _ = a.do(api, "POST", "/change", hdr...)
		assert.Equal(t, 403, resp.StatusCode, "no live session, no exemption: %v", hdr)
		resp, body = a.do(api, "GET", "/csrf", hdr...)
		assert.Empty(t, body, "a header client gets no visitor CSRF token")
		assert.Empty(t, resp.Header.Values("Set-Cookie"), "nor its cookie")
	}

	// Token is for header sessions and freshly issued tokens only.
	_, body = a.do(browser, "GET", "/token")
	assert.Equal(t, "none", body, "a cookie session's token stays out of bodies")
	_, body = a.do(api, "GET", "/token", bearer(tok)...)
	assert.Equal(t, "some", body)

	// Rotation answers the new token; the old one is dead at once.
	resp, body = a.do(api, "POST", "/rotate", bearer(tok)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	var rot struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(body), &rot))
	require.NotEqual(t, tok, rot.Token)
	_, body = a.do(api, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "anonymous", body)
	_, body = a.do(api, "GET", "/whoami", bearer(rot.Token)...)
	assert.Equal(t, "7", body)

	// Logout ends it, with no cookie to clear.
	resp, _ = a.do(api, "POST", "/logout", bearer(rot.Token)...)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	_, body = a.do(api, "GET", "/whoami", bearer(rot.Token)...)
	assert.Equal(t, "anonymous", body)

	for _, secret := range []string{tok, rot.Token} {
		assert.NotContains(t, a.logs.String(), secret, "tokens are never logged")
		for _, ev := range a.events.events {
			assert.NotContains(t, ev.Session+ev.Detail, secret)
		}
	}
}

// A configured header takes the bare token; Authorization is then left
// alone. Off (the default), no header is a session token.
func TestTokenHeaderName(t *testing.T) {
	a := newBearerApp(t, func(c *ginsession.Config) { c.TokenHeader.Name = "x-session-token" })
	browser, tok := a.browser("8")
	api := &http.Client{}
	_, body := a.do(api, "GET", "/whoami", "X-Session-Token", tok)
	assert.Equal(t, "8", body)
	_, body = a.do(api, "GET", "/whoami", "X-Session-Token", "Bearer "+tok)
	assert.Equal(t, "anonymous", body)
	_, body = a.do(api, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "anonymous", body)
	resp, _ := a.do(browser, "GET", "/whoami", "X-Session-Token", tok)
	assert.Equal(t, 400, resp.StatusCode)

	off := newBearerApp(t, func(c *ginsession.Config) { c.TokenHeader = ginsession.TokenHeaderOptions{} })
	browser, tok = off.browser("9")
	_, body = off.do(api, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "anonymous", body, "off by default")
	_, body = off.do(browser, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "9", body, "and then the header is no conflict")
	resp, _ = off.do(api, "POST", "/change", bearer(tok)...)
	assert.Equal(t, 403, resp.StatusCode, "nor a CSRF exemption")

	for _, name := range []string{"Cookie", "set-cookie", "Bad Name", "X:Y"} {
		_, err := ginsession.NewManager(ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t),
			TokenHeader: ginsession.TokenHeaderOptions{Enabled: true, Name: name}})
		assert.ErrorIs(t, err, ginsession.ErrConfig, name)
	}
}

// Periodic rotation leaves header sessions alone: their client would
// never learn the new token, and the old one dies after the grace window.
func TestBearerNoPeriodicRotation(t *testing.T) {
	clk := &clock{now: time.Now()}
	a := newBearerApp(t, func(c *ginsession.Config) { c.Now = clk.Now; c.RotateEvery = time.Hour })
	browser, tok := a.browser("5")
	api := &http.Client{}
	clk.Advance(61 * time.Minute)
	_, body := a.do(api, "GET", "/whoami", bearer(tok)...)
	require.Equal(t, "5", body)
	clk.Advance(time.Minute)
	_, body = a.do(api, "GET", "/whoami", bearer(tok)...)
	assert.Equal(t, "5", body, "still the same token")
	resp, _ := a.do(browser, "GET", "/whoami")
	assert.True(t, strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ";"), a.mgr.CookieName()),
		"a cookie session is rotated as before")
}
