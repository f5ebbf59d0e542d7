package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// send is a request with hc and extra headers (nil hc: a client with no
// cookie jar, as an API client).
func (e *env) send(t *testing.T, hc *http.Client, method, path string, body any, hdr ...string) response {
	t.Helper()
	if hc == nil {
		hc = &http.Client{}
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// sessionSetCookie returns the response's session Set-Cookie line.
func (e *env) sessionSetCookie(r response) string {
	for _, line := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, e.app.sessions.CookieName()+"=") {
			return line
		}
	}
	return ""
}

// loginWith logs c in with extra fields in the body and returns the answer.
func (c *client) loginWith(user string, extra map[string]any) response {
	c.t.Helper()
	c.state()
	body := map[string]any{"username": user, "password": user}
	for k, v := range extra {
		body[k] = v
	}
	r := c.do("POST", "/api/login", body, csrfValid)
	if r.status != 200 {
		c.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var s session
	r.json(c.t, &s)
	c.csrf = s.CSRFToken
	return r
}

// "remember": true makes the login's cookie persistent for the remembered
// lifetime (30 days by default); without it the cookie lasts the browser
// session. The session list says which is which, and the form offers it.
func TestLoginRemember(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	rem, plain := e.client(t, "remembered"), e.client(t, "plain")
	line := e.sessionSetCookie(rem.loginWith("alice", map[string]any{"remember": true}))
	if !strings.Contains(line, "Max-Age=2592000") {
		t.Errorf("remembered login: Set-Cookie %q, want Max-Age=2592000", line)
	}
	line = e.sessionSetCookie(plain.loginWith("alice", nil))
	if line == "" || strings.Contains(line, "Max-Age") || strings.Contains(line, "Expires") {
		t.Errorf("plain login: Set-Cookie %q, want a browser-session cookie", line)
	}
	r := rem.get("/api/sessions")
	var list []struct {
		UserAgent  string `json:"user_agent"`
		Remembered bool   `json:"remembered"`
	}
	r.json(t, &list)
	if len(list) != 2 {
		t.Fatalf("want 2 sessions, got %s", r.body)
	}
	for _, s := range list {
		if s.Remembered != (s.UserAgent == "remembered") {
			t.Errorf("session of %q: remembered=%v", s.UserAgent, s.Remembered)
		}
	}

	// A later write re-sends the persistent cookie, never longer.
	r = rem.do("PUT", "/api/prefs/theme", `"dark"`, csrfValid)
	if r.status != 204 {
		t.Fatalf("PUT pref: %d %s", r.status, r.body)
	}
	if line := e.sessionSetCookie(r); line != "" && !strings.Contains(line, "Max-Age=259") {
		t.Errorf("re-sent cookie %q", line)
	}

	page := e.client(t, "").get("/")
	for _, want := range []string{`id="remember"`, `type="checkbox"`, "Remember me for 30 days"} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("the login form lacks %s", want)
		}
	}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// Every /api route takes the session token as a bearer token: that
// session's, without X-CSRF-Token. A cookie still needs its CSRF token, and
// a cookie with a bearer token is refused with 400.
func TestBearerAPI(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	browser := e.client(t, "browser")
	r := browser.loginWith("alice", map[string]any{"token": true})
	var s struct {
		Token string `json:"token"`
	}
	r.json(t, &s)
	if s.Token == "" || s.Token != browser.cookie() {
		t.Fatalf("login with token:true answers the cookie's token: %q vs %q", s.Token, browser.cookie())
	}
	if r := browser.loginWith("alice", nil); strings.Contains(string(r.body), `"token"`) {
		t.Errorf("a login that did not ask shows its token: %s", r.body)
	}
	tok := browser.cookie() // the second login rotated it

	r = e.send(t, nil, "GET", "/api/session", nil, bearer(tok)...)
	var st session
	r.json(t, &st)
	if r.status != 200 || !st.Authenticated || st.User == nil || st.User.Username != "alice" {
		t.Fatalf("GET /api/session with a bearer token: %d %s", r.status, r.body)
	}
	if sc := r.header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("a bearer request got Set-Cookie %q", sc)
	}

	// Unsafe requests: no CSRF header needed with a bearer token.
	r = e.send(t, nil, "POST", "/api/platform", map[string]any{"platform_connection_id": 2}, bearer(tok)...)
	if r.status != 200 {
		t.Errorf("POST /api/platform with a bearer token: %d %s", r.status, r.body)
	}
	r = e.send(t, nil, "PUT", "/api/prefs/k", 1, bearer(tok)...)
	if r.status != 204 {
		t.Errorf("PUT /api/prefs/k with a bearer token: %d %s", r.status, r.body)
	}
	if r := browser.get("/api/platform"); !strings.Contains(string(r.body), `"id":2`) {
		t.Errorf("the cookie sees the bearer's change: %s", r.body)
	}
	// The cookie still needs its CSRF token.
	if r := browser.do("PUT", "/api/prefs/k", 2, csrfMissing); r.status != 403 {
		t.Errorf("cookie without X-CSRF-Token: %d %s", r.status, r.body)
	}
	if r := browser.do("PUT", "/api/prefs/k", 2, csrfValid); r.status != 204 {
		t.Errorf("cookie with X-CSRF-Token: %d %s", r.status, r.body)
	}

	// Both at once: 400, nothing changes.
	for _, method := range []string{"GET", "PUT"} {
		r = e.send(t, browser.hc, method, "/api/prefs/k", 3, append(bearer(tok), "X-CSRF-Token", browser.csrf)...)
		if r.status != 400 || r.errMsg(t) != "session token in both a cookie and a header" {
			t.Errorf("%s with cookie and bearer: %d %s", method, r.status, r.body)
		}
	}
	if r := browser.get("/api/prefs/k"); string(r.body) != "2" {
		t.Errorf("pref after the refused request: %s", r.body)
	}

	// A token that names no session is anonymous, and gets no exemption.
	for _, bad := range []string{otherToken, "not-a-token", tok + "x"} {
		r = e.send(t, nil, "GET", "/api/session", nil, bearer(bad)...)
		var st session
		r.json(t, &st)
		if r.status != 200 || st.Authenticated || len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("bearer %q: %d %s %v", bad, r.status, r.body, r.header.Values("Set-Cookie"))
		}
		if r := e.send(t, nil, "POST", "/api/logout", nil, bearer(bad)...); r.status != 403 {
			t.Errorf("unsafe request with bearer %q: %d %s", bad, r.status, r.body)
		}
	}

	// A bearer client's own re-login answers its new token.
	r = e.send(t, nil, "POST", "/api/login", map[string]any{"username": "bob", "password": "bob"}, bearer(tok)...)
	r.json(t, &s)
	if r.status != 200 || s.Token == "" || s.Token == tok || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("re-login with a bearer token: %d %s", r.status, r.body)
	}
	r = e.send(t, nil, "GET", "/api/session", nil, bearer(s.Token)...)
	if !strings.Contains(string(r.body), `"username":"bob"`) {
		t.Errorf("the new token is bob's: %s", r.body)
	}
	if r := e.send(t, nil, "POST", "/api/logout", nil, bearer(s.Token)...); r.status != 200 || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("logout with a bearer token: %d %s", r.status, r.body)
	}
	r = e.send(t, nil, "GET", "/api/session", nil, bearer(s.Token)...)
	if strings.Contains(string(r.body), `"authenticated":true`) {
		t.Errorf("the token is dead after logout: %s", r.body)
	}
}
