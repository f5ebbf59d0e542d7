package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/vedfolnir/sessions/internal/testserver"
)

// In redis mode with Redis stopped, the session middleware answers 503
// with Retry-After: JSON under /api, a plain page at /, for a visitor with
// a session and a new one alike.
func TestRedisOutageIs503(t *testing.T) {
	rp := testserver.StartRedis(t)
	e := startApp(t, map[string]string{
		envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envStorage: modeRedis,
		envRedisURL: "redis://" + rp.Addr, "REDIS_SESSION_PREFIX": testserver.Prefix(t),
	})
	old := e.client(t, "old")
	old.login("alice")
	rp.Kill(syscall.SIGKILL)
	for _, tc := range []struct {
		name, path string
		c          *client
		json       bool
	}{
		{"stored session, api", "/api/session", old, true},
		{"new visitor, api", "/api/session", e.client(t, "new"), true},
		{"stored session, page", "/", old, false},
		{"new visitor, page", "/", e.client(t, "new"), false},
	} {
		r := tc.c.get(tc.path)
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
