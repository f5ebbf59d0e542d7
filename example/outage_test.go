package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/vedfolnir/sessions/internal/testserver"
)

// In redis mode with Redis stopped, the session middleware answers 503
// with Retry-After: JSON under /api, a plain page at /, for a visitor with
// a session, and for a new visitor's login. A new visitor's login form
// needs no store at all, so it still renders.
func TestRedisOutageIs503(t *testing.T) {
	rp := testserver.StartRedis(t)
	e := startApp(t, map[string]string{
		envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envStorage: modeRedis,
		envRedisURL: "redis://" + rp.Addr, "REDIS_SESSION_PREFIX": testserver.Prefix(t),
	})
	old := e.client(t, "old")
	old.login("alice")
	visitor := e.client(t, "new")
	rp.Kill(syscall.SIGKILL)
	if s := visitor.state(); s.Authenticated || s.CSRFToken == "" {
		t.Errorf("new visitor, api: %+v; want the anonymous state with a CSRF token", s)
	}
	if r := visitor.get("/"); r.status != 200 || !strings.Contains(string(r.body), `id="login-form"`) {
		t.Errorf("new visitor, page: %d; want the login form", r.status)
	}
	for _, tc := range []struct {
		name, method, path string
		c                  *client
		json               bool
	}{
		{"stored session, api", "GET", "/api/session", old, true},
		{"stored session, page", "GET", "/", old, false},
		{"new visitor, login", "POST", "/api/login", visitor, true},
	} {
		var body any
		mode := csrfMissing
		if tc.method == "POST" {
			body, mode = map[string]string{"username": "bob", "password": "bob"}, csrfValid
		}
		r := tc.c.do(tc.method, tc.path, body, mode)
		if r.status != 503 || r.header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d Retry-After %q %s; want 503 with Retry-After 1", tc.name, r.status, r.header.Get("Retry-After"), r.body)
			continue
		}
		if tc.json {
			if msg := r.errMsg(t); msg != "session store unavailable" {
				t.Errorf("%s: error %q", tc.name, msg)
			}
		} else if !strings.Contains(string(r.body), "Try again in a moment") {
			t.Errorf("%s: body %q", tc.name, r.body)
		}
	}
}
