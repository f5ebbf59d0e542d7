package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSessionRoute: GET /api/session creates an anonymous session on first
// use and answers the contract's shape, times in RFC 3339 UTC.
func TestSessionRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := e.client(t, "test-agent/1")
		r := c.get("/api/session")
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		var raw map[string]json.RawMessage
		r.json(t, &raw)
		for _, k := range []string{"authenticated", "user", "platform", "csrf_token", "created_at", "last_activity", "expires_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("missing field %q in %s", k, r.body)
			}
		}
		if len(raw) != 7 {
			t.Errorf("want exactly 7 fields, got %s", r.body)
		}
		var s session
		r.json(t, &s)
		if s.Authenticated || s.User != nil || s.Platform != nil {
			t.Errorf("fresh session: %s", r.body)
		}
		// An anonymous visitor: a visitor CSRF token, no stored session.
		if len(s.CSRFToken) != 27 {
			t.Errorf("csrf_token %q", s.CSRFToken)
		}
		if s.CreatedAt != nil || s.LastActivity != nil || s.ExpiresAt != nil {
			t.Errorf("times of a session that is not stored: %s", r.body)
		}
		if c.cookie() != "" {
			t.Error("a session cookie for an anonymous visitor")
		}
		// Logged in: the session's own token and its times.
		s = c.login("bob")
		if len(s.CSRFToken) != 22 {
			t.Errorf("csrf_token %q", s.CSRFToken)
		}
		if s.CreatedAt == nil || s.LastActivity == nil || s.ExpiresAt == nil {
			t.Fatalf("times missing: %+v", s)
		}
		created := mustRFC3339UTC(t, "created_at", *s.CreatedAt)
		expires := mustRFC3339UTC(t, "expires_at", *s.ExpiresAt)
		mustRFC3339UTC(t, "last_activity", *s.LastActivity)
		if d := expires.Sub(created); d < time.Hour || d > 25*time.Hour {
			t.Errorf("expires %v after creation", d)
		}
		if c.cookie() == "" {
			t.Fatal("no session cookie set")
		}
		// The same session on the next call: same cookie, creation time and token.
		ck := c.cookie()
		s2 := c.state()
		if c.cookie() != ck || *s2.CreatedAt != *s.CreatedAt || s2.CSRFToken != s.CSRFToken {
			t.Errorf("second call changed the session: %+v", s2)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	})
}

// TestLoginRoute: table of login attempts. Only a valid CSRF token and the
// right password log in; everything else changes nothing.
func TestLoginRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		cases := []struct {
			name   string
			body   any
			csrf   csrfMode
			status int
		}{
			{"csrf missing", map[string]string{"username": "alice", "password": "alice"}, csrfMissing, 403},
			{"csrf of another session", map[string]string{"username": "alice", "password": "alice"}, csrfWrong, 403},
			{"csrf garbage", map[string]string{"username": "alice", "password": "alice"}, csrfGarbage, 403},
			{"wrong password", map[string]string{"username": "alice", "password": "bob"}, csrfValid, 401},
			{"unknown user", map[string]string{"username": "mallory", "password": "mallory"}, csrfValid, 401},
			{"empty credentials", map[string]string{}, csrfValid, 401},
			{"case matters", map[string]string{"username": "Alice", "password": "alice"}, csrfValid, 401},
			{"password prefix", map[string]string{"username": "alice", "password": "alic"}, csrfValid, 401},
			{"not JSON", "username=alice&password=alice", csrfValid, 400},
			{"JSON array", `[1,2]`, csrfValid, 400},
			{"huge body", `{"username":"` + strings.Repeat("a", 20000) + `"}`, csrfValid, 413},
			{"alice", map[string]string{"username": "alice", "password": "alice"}, csrfValid, 200},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := e.client(t, "")
				before := c.state()
				ck := c.cookie()
				r := c.do("POST", "/api/login", tc.body, tc.csrf)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				if tc.status != 200 {
					r.errMsg(t)
					after := c.state()
					if after.Authenticated || c.cookie() != ck || after.CSRFToken != before.CSRFToken {
						t.Fatalf("a refused login changed the session: %+v", after)
					}
					return
				}
				var s session
				r.json(t, &s)
				if !s.Authenticated || s.User == nil || s.User.ID != 1 || s.User.Username != "alice" || s.User.Role != "admin" {
					t.Fatalf("login answer %s", r.body)
				}
				if c.cookie() == ck || c.cookie() == "" {
					t.Error("login did not rotate the session cookie")
				}
				if s.CSRFToken == before.CSRFToken {
					t.Error("login did not renew the CSRF token")
				}
				mustRFC3339UTC(t, "created_at", *s.CreatedAt)
				// The pre-login cookie is dead.
				old := e.client(t, "")
				old.setCookie(ck)
				if old.state().Authenticated {
					t.Error("the pre-login cookie is logged in")
				}
				if got := c.state(); !got.Authenticated || got.User.Username != "alice" {
					t.Errorf("after login: %+v", got)
				}
			})
		}
		t.Run("bob", func(t *testing.T) {
			s := e.client(t, "").login("bob")
			if s.User.ID != 2 || s.User.Role != "user" {
				t.Errorf("bob: %+v", s.User)
			}
		})
		t.Run("relogin as another user drops the first user's values", func(t *testing.T) {
			c := e.client(t, "")
			c.login("alice")
			if r := c.do("POST", "/api/platform", map[string]int{"platform_connection_id": 1}, csrfValid); r.status != 200 {
				t.Fatalf("switch: %d", r.status)
			}
			s := c.login("bob")
			if s.User.Username != "bob" || s.Platform != nil {
				t.Errorf("relogin: %+v", s)
			}
		})
	})
}

// TestLogoutRoutes: logout and logout-all, with and without CSRF.
func TestLogoutRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		t.Run("logout", func(t *testing.T) {
			c := e.client(t, "")
			c.login("alice")
			ck := c.cookie()
			for _, m := range []csrfMode{csrfMissing, csrfWrong, csrfGarbage} {
				if r := c.do("POST", "/api/logout", nil, m); r.status != 403 {
					t.Fatalf("csrf mode %d: status %d", m, r.status)
				}
				if !c.state().Authenticated || c.cookie() != ck {
					t.Fatal("a refused logout logged out")
				}
			}
			r := c.do("POST", "/api/logout", nil, csrfValid)
			if r.status != 200 {
				t.Fatalf("logout: %d %s", r.status, r.body)
			}
			var s session
			r.json(t, &s)
			if s.Authenticated || s.User != nil {
				t.Errorf("after logout: %s", r.body)
			}
			if c.cookie() == ck {
				t.Error("logout kept the cookie")
			}
			replay := e.client(t, "")
			replay.setCookie(ck)
			if replay.state().Authenticated {
				t.Error("the logged-out cookie still works")
			}
		})
		t.Run("logout-all", func(t *testing.T) {
			a1, a2, b := e.client(t, "a1"), e.client(t, "a2"), e.client(t, "b")
			a1.login("alice")
			a2.login("alice")
			b.login("bob")
			if r := a1.do("POST", "/api/logout-all", nil, csrfMissing); r.status != 403 {
				t.Fatalf("no csrf: %d", r.status)
			}
			if !a2.state().Authenticated {
				t.Fatal("refused logout-all ended a session")
			}
			r := a1.do("POST", "/api/logout-all", nil, csrfValid)
			if r.status != 200 {
				t.Fatalf("logout-all: %d %s", r.status, r.body)
			}
			var got map[string]int
			r.json(t, &got)
			if len(got) != 1 || got["revoked"] != 2 {
				t.Errorf("answer %s, want {\"revoked\":2}", r.body)
			}
			if a1.state().Authenticated || a2.state().Authenticated {
				t.Error("alice still has a session")
			}
			if !b.state().Authenticated {
				t.Error("bob was logged out too")
			}
			anon := e.client(t, "")
			anon.state()
			if r := anon.do("POST", "/api/logout-all", nil, csrfValid); r.status != 401 {
				t.Errorf("anonymous logout-all: %d", r.status)
			} else {
				r.errMsg(t)
			}
		})
	})
}

// TestPlatformRoutes: GET and POST /api/platform answer 401, 409, 403 and
// 200 as the contract says.
func TestPlatformRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		anon := e.client(t, "")
		anon.state()
		alice := e.client(t, "")
		alice.login("alice")
		bob := e.client(t, "")
		bob.login("bob")
		steps := []struct {
			name   string
			c      *client
			method string
			body   any
			csrf   csrfMode
			status int
			want   *platformJSON // the platform GET answers afterwards (nil: 409)
		}{
			{"anonymous get", anon, "GET", nil, csrfMissing, 401, nil},
			{"anonymous switch", anon, "POST", map[string]int{"platform_connection_id": 1}, csrfValid, 401, nil},
			{"none selected", alice, "GET", nil, csrfMissing, 409, nil},
			{"bob's platform", alice, "POST", map[string]int{"platform_connection_id": 3}, csrfValid, 403, nil},
			{"unknown platform", alice, "POST", map[string]int{"platform_connection_id": 99}, csrfValid, 403, nil},
			{"zero", alice, "POST", map[string]int{"platform_connection_id": 0}, csrfValid, 403, nil},
			{"negative", alice, "POST", map[string]int{"platform_connection_id": -1}, csrfValid, 403, nil},
			{"not an integer", alice, "POST", `{"platform_connection_id":1.5}`, csrfValid, 400, nil},
			{"string id", alice, "POST", `{"platform_connection_id":"x"}`, csrfValid, 400, nil},
			{"bad JSON", alice, "POST", `{`, csrfValid, 400, nil},
			{"no csrf", alice, "POST", map[string]int{"platform_connection_id": 2}, csrfMissing, 403, nil},
			{"wrong csrf", alice, "POST", map[string]int{"platform_connection_id": 2}, csrfWrong, 403, nil},
			{"switch to 2", alice, "POST", map[string]int{"platform_connection_id": 2}, csrfValid, 200,
				&platformJSON{2, "pixelfed-photos", "pixelfed"}},
			{"selected", alice, "GET", nil, csrfMissing, 200, &platformJSON{2, "pixelfed-photos", "pixelfed"}},
			{"refused switch keeps 2", alice, "POST", map[string]int{"platform_connection_id": 3}, csrfValid, 403,
				&platformJSON{2, "pixelfed-photos", "pixelfed"}},
			{"switch to 1", alice, "POST", map[string]int{"platform_connection_id": 1}, csrfValid, 200,
				&platformJSON{1, "mastodon-main", "mastodon"}},
			{"bob switches to 3", bob, "POST", map[string]int{"platform_connection_id": 3}, csrfValid, 200,
				&platformJSON{3, "bob-mastodon", "mastodon"}},
			{"bob may not use alice's", bob, "POST", map[string]int{"platform_connection_id": 1}, csrfValid, 403,
				&platformJSON{3, "bob-mastodon", "mastodon"}},
		}
		for _, st := range steps {
			r := st.c.do(st.method, "/api/platform", st.body, st.csrf)
			if r.status != st.status {
				t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.status, r.body)
			}
			if r.status != 200 {
				r.errMsg(t)
			}
			if st.c == anon {
				continue
			}
			g := st.c.get("/api/platform")
			switch {
			case st.want == nil && g.status != 409:
				t.Fatalf("%s: GET afterwards %d %s, want 409", st.name, g.status, g.body)
			case st.want != nil:
				var p platformJSON
				g.json(t, &p)
				if g.status != 200 || p != *st.want {
					t.Fatalf("%s: GET afterwards %d %s, want %+v", st.name, g.status, g.body, *st.want)
				}
				if st.method == "POST" && st.status == 200 {
					var sw platformJSON
					r.json(t, &sw)
					if sw != *st.want {
						t.Fatalf("%s: POST answered %s", st.name, r.body)
					}
				}
				if s := st.c.state(); s.Platform == nil || *s.Platform != *st.want {
					t.Fatalf("%s: /api/session platform %+v", st.name, s.Platform)
				}
			}
		}
	})
}

// sessionEntry is one item of GET /api/sessions.
type sessionEntry struct {
	ID           string        `json:"id"`
	CreatedAt    string        `json:"created_at"`
	LastActivity string        `json:"last_activity"`
	IP           string        `json:"ip"`
	UserAgent    string        `json:"user_agent"`
	Platform     *platformJSON `json:"platform"`
	Current      bool          `json:"current"`
}

func (c *client) sessions() []sessionEntry {
	c.t.Helper()
	r := c.get("/api/sessions")
	if r.status != 200 {
		c.t.Fatalf("GET /api/sessions: %d %s", r.status, r.body)
	}
	var list []sessionEntry
	r.json(c.t, &list)
	return list
}

// TestSessionsRoutes: the list's shape, and revocation by handle.
func TestSessionsRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		laptop, phone, bob := e.client(t, "Laptop/1.0"), e.client(t, "Phone/2.0"), e.client(t, "Bob/1")
		laptop.login("alice")
		phone.login("alice")
		bob.login("bob")
		if r := phone.do("POST", "/api/platform", map[string]int{"platform_connection_id": 2}, csrfValid); r.status != 200 {
			t.Fatalf("switch: %d", r.status)
		}
		r := laptop.get("/api/sessions")
		var raw []map[string]json.RawMessage
		r.json(t, &raw)
		if len(raw) != 2 {
			t.Fatalf("want 2 sessions, got %s", r.body)
		}
		for _, item := range raw {
			for _, k := range []string{"id", "created_at", "last_activity", "ip", "user_agent", "platform", "current"} {
				if _, ok := item[k]; !ok {
					t.Errorf("missing %q in %s", k, r.body)
				}
			}
		}
		list := laptop.sessions()
		byUA := map[string]sessionEntry{}
		for _, s := range list {
			byUA[s.UserAgent] = s
			mustRFC3339UTC(t, "created_at", s.CreatedAt)
			mustRFC3339UTC(t, "last_activity", s.LastActivity)
			if s.IP != "127.0.0.1" {
				t.Errorf("ip %q", s.IP)
			}
			for _, ck := range []string{laptop.cookie(), phone.cookie()} {
				if s.ID == "" || strings.Contains(ck, s.ID) || strings.Contains(s.ID, ck) {
					t.Errorf("id %q is empty or shows the token", s.ID)
				}
			}
		}
		l, p := byUA["Laptop/1.0"], byUA["Phone/2.0"]
		if !l.Current || p.Current {
			t.Errorf("current flags: laptop %v phone %v", l.Current, p.Current)
		}
		if l.Platform != nil || p.Platform == nil || *p.Platform != (platformJSON{2, "pixelfed-photos", "pixelfed"}) {
			t.Errorf("platforms: laptop %+v phone %+v", l.Platform, p.Platform)
		}
		if got := phone.sessions(); len(got) != 2 || got[0].Current == got[1].Current {
			t.Errorf("phone's view: %+v", got)
		}

		steps := []struct {
			name   string
			c      *client
			id     string
			csrf   csrfMode
			status int
		}{
			{"unknown id", laptop, "AAAAAAAAAAAAAAAAAAAAAA", csrfValid, 404},
			{"garbage id", laptop, "..%2F..%2Fx", csrfValid, 404},
			{"bob cannot revoke alice's", bob, p.ID, csrfValid, 404},
			{"no csrf", laptop, p.ID, csrfMissing, 403},
			{"wrong csrf", laptop, p.ID, csrfWrong, 403},
			{"revoke the phone", laptop, p.ID, csrfValid, 204},
			{"twice", laptop, p.ID, csrfValid, 404},
		}
		for _, st := range steps {
			r := st.c.do("DELETE", "/api/sessions/"+st.id, nil, st.csrf)
			if r.status != st.status {
				t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.status, r.body)
			}
			if st.status == 204 {
				if len(r.body) != 0 {
					t.Errorf("204 with a body: %q", r.body)
				}
				continue
			}
			r.errMsg(t)
			if st.name != "twice" && !phone.state().Authenticated {
				t.Fatalf("%s: the phone was logged out", st.name)
			}
		}
		if phone.state().Authenticated {
			t.Error("the revoked phone is still logged in")
		}
		if got := laptop.sessions(); len(got) != 1 || !got[0].Current {
			t.Errorf("after revoke: %+v", got)
		}
		if !bob.state().Authenticated {
			t.Error("bob lost his session")
		}
		anon := e.client(t, "")
		anon.state()
		for _, r := range []response{anon.get("/api/sessions"), anon.do("DELETE", "/api/sessions/"+l.ID, nil, csrfValid)} {
			if r.status != 401 {
				t.Errorf("anonymous: %d %s", r.status, r.body)
			}
		}
	})
}

// TestPrefsRoutes: free per-session JSON values.
func TestPrefsRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := e.client(t, "")
		c.state()
		big := strings.Repeat("x", 5000)
		steps := []struct {
			name, method, key string
			body              any
			csrf              csrfMode
			status            int
			want              string // the body of a 200
		}{
			{"list empty", "GET", "", nil, csrfMissing, 200, `{}`},
			{"get missing", "GET", "theme", nil, csrfMissing, 404, ""},
			{"put no csrf", "PUT", "theme", `"dark"`, csrfMissing, 403, ""},
			{"still missing", "GET", "theme", nil, csrfMissing, 404, ""},
			{"put wrong csrf", "PUT", "theme", `"dark"`, csrfWrong, 403, ""},
			{"put string", "PUT", "theme", `"dark"`, csrfValid, 204, ""},
			{"get string", "GET", "theme", nil, csrfMissing, 200, `"dark"`},
			{"put object", "PUT", "layout", `{"cols": [1, 2.5, "x"], "big": 12345678901234567890, "u": "é✓"}`, csrfValid, 204, ""},
			{"get object exactly", "GET", "layout", nil, csrfMissing, 200, `{"cols":[1,2.5,"x"],"big":12345678901234567890,"u":"é✓"}`},
			{"put null", "PUT", "nothing", `null`, csrfValid, 204, ""},
			{"get null", "GET", "nothing", nil, csrfMissing, 200, `null`},
			{"list", "GET", "", nil, csrfMissing, 200, `{"layout":{"cols":[1,2.5,"x"],"big":12345678901234567890,"u":"é✓"},"nothing":null,"theme":"dark"}`},
			{"invalid JSON", "PUT", "theme", `{nope`, csrfValid, 400, ""},
			{"two values", "PUT", "theme", `1 2`, csrfValid, 400, ""},
			{"empty body", "PUT", "theme", ``, csrfValid, 400, ""},
			{"too large", "PUT", "theme", `"` + big + `"`, csrfValid, 413, ""},
			{"bad key", "PUT", "a%20b", `1`, csrfValid, 400, ""},
			{"long key", "PUT", strings.Repeat("k", 65), `1`, csrfValid, 400, ""},
			{"unchanged after refusals", "GET", "theme", nil, csrfMissing, 200, `"dark"`},
			{"delete no csrf", "DELETE", "theme", nil, csrfMissing, 403, ""},
			{"delete", "DELETE", "theme", nil, csrfValid, 204, ""},
			{"deleted", "GET", "theme", nil, csrfMissing, 404, ""},
			{"delete missing", "DELETE", "theme", nil, csrfValid, 404, ""},
			{"list after", "GET", "", nil, csrfMissing, 200, `{"layout":{"cols":[1,2.5,"x"],"big":12345678901234567890,"u":"é✓"},"nothing":null}`},
		}
		for _, st := range steps {
			path := "/api/prefs"
			if st.key != "" {
				path += "/" + st.key
			}
			r := c.do(st.method, path, st.body, st.csrf)
			if r.status != st.status {
				t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.status, r.body)
			}
			switch {
			case st.status == 200 && string(r.body) != st.want:
				t.Fatalf("%s: body %s, want %s", st.name, r.body, st.want)
			case st.status >= 400:
				r.errMsg(t)
			}
		}
		// The session as a whole is bounded: filling it answers 413, and
		// what was stored stays readable.
		full := false
		for i := 0; i < 40 && !full; i++ {
			r := c.do("PUT", fmt.Sprintf("/api/prefs/fill%d", i), `"`+strings.Repeat("f", 4000)+`"`, csrfValid)
			switch r.status {
			case 204:
			case 413:
				full = true
				r.errMsg(t)
			default:
				t.Fatalf("fill %d: %d %s", i, r.status, r.body)
			}
		}
		if !full {
			t.Fatal("160 KB of preferences fit in one session")
		}
		if r := c.get("/api/prefs/fill0"); r.status != 200 || len(r.body) != 4002 {
			t.Errorf("after the session filled up: %d, %d bytes", r.status, len(r.body))
		}
		for i := 0; i < 40; i++ {
			c.do("DELETE", fmt.Sprintf("/api/prefs/fill%d", i), nil, csrfValid)
		}
		// Values belong to the session: another browser sees none.
		other := e.client(t, "")
		if r := other.get("/api/prefs"); r.status != 200 || string(r.body) != `{}` {
			t.Errorf("another session's prefs: %d %s", r.status, r.body)
		}
		// And they survive a login (the session is rotated, not replaced).
		c.login("bob")
		if r := c.get("/api/prefs/nothing"); r.status != 200 || string(r.body) != "null" {
			t.Errorf("after login: %d %s", r.status, r.body)
		}
	})
}

// auditEntry is one item of GET /api/audit.
type auditEntry struct {
	Time      string `json:"time"`
	Type      string `json:"type"`
	Session   string `json:"session"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Detail    string `json:"detail"`
}

// TestAuditRoute: the user's history; admin may read another's.
func TestAuditRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		alice, bob := e.client(t, "AliceBrowser/1"), e.client(t, "BobBrowser/1")
		alice.login("alice")
		bob.login("bob")
		alice.do("POST", "/api/platform", map[string]int{"platform_connection_id": 2}, csrfValid)
		e.flushAudit(t)

		r := alice.get("/api/audit?limit=10")
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		var raw []map[string]json.RawMessage
		r.json(t, &raw)
		var list []auditEntry
		r.json(t, &list)
		if len(list) < 2 {
			t.Fatalf("want login and platform_switched, got %s", r.body)
		}
		for i, item := range raw {
			if len(item) != 6 {
				t.Errorf("item %d: want fields time,type,session,ip,user_agent,detail: %s", i, r.body)
			}
		}
		if list[0].Type != "platform_switched" || list[0].Detail != "2" || list[0].UserAgent != "AliceBrowser/1" || list[0].IP != "127.0.0.1" {
			t.Errorf("newest: %+v", list[0])
		}
		var sawLogin bool
		for _, it := range list {
			mustRFC3339UTC(t, "time", it.Time)
			sawLogin = sawLogin || it.Type == "login"
			if it.UserAgent == "BobBrowser/1" {
				t.Errorf("bob's event in alice's history: %+v", it)
			}
		}
		if !sawLogin {
			t.Errorf("no login event: %s", r.body)
		}
		if me := alice.sessions(); list[0].Session != me[0].ID {
			t.Errorf("session %q, want the handle %q", list[0].Session, me[0].ID)
		}

		cases := []struct {
			name   string
			c      *client
			query  string
			status int
			check  func([]auditEntry) error
		}{
			{"limit 1", alice, "?limit=1", 200, func(l []auditEntry) error {
				if len(l) != 1 || l[0].Type != "platform_switched" {
					return fmt.Errorf("%+v", l)
				}
				return nil
			}},
			{"limit 0", alice, "?limit=0", 400, nil},
			{"limit text", alice, "?limit=ten", 400, nil},
			{"limit too large", alice, "?limit=100000", 400, nil},
			{"admin reads bob's", alice, "?user_id=2", 200, func(l []auditEntry) error {
				for _, it := range l {
					if it.UserAgent != "BobBrowser/1" {
						return fmt.Errorf("not bob's: %+v", it)
					}
				}
				if len(l) == 0 {
					return fmt.Errorf("empty")
				}
				return nil
			}},
			{"admin, own id", alice, "?user_id=1", 200, nil},
			{"admin, unknown user", alice, "?user_id=99", 404, nil},
			{"user reads admin's", bob, "?user_id=1", 403, nil},
			{"user reads garbage id", bob, "?user_id=%27%3B--", 403, nil},
			{"user, own id", bob, "?user_id=2", 200, nil},
		}
		for _, tc := range cases {
			r := tc.c.get("/api/audit" + tc.query)
			if r.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
				continue
			}
			if r.status != 200 {
				r.errMsg(t)
				continue
			}
			var l []auditEntry
			r.json(t, &l)
			if tc.check != nil {
				if err := tc.check(l); err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
			}
		}
		anon := e.client(t, "")
		if r := anon.get("/api/audit"); r.status != 401 {
			t.Errorf("anonymous: %d", r.status)
		}
	})
}

// TestHealthAndMetrics: /healthz and /metrics answer on the operator
// listener only.
func TestHealthAndMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := e.client(t, "")
		for _, p := range []string{"/healthz", "/metrics"} {
			if r := c.get(p); r.status != 404 {
				t.Errorf("public %s: %d, want 404", p, r.status)
			}
		}
		if r := c.getAdmin("/api/session"); r.status != 404 {
			t.Errorf("operator listener serves the app: %d", r.status)
		}
		r := c.getAdmin("/healthz")
		if r.status != 200 {
			t.Fatalf("healthz %d %s", r.status, r.body)
		}
		var h struct {
			Status   string         `json:"status"`
			Storage  string         `json:"storage"`
			Redis    map[string]any `json:"redis"`
			Database map[string]any `json:"database"`
		}
		r.json(t, &h)
		if h.Status != "ok" || h.Storage != e.app.cfg.Storage || h.Database["status"] != "up" {
			t.Errorf("healthz: %s", r.body)
		}
		wantRedis := "not_configured"
		if e.app.cfg.Storage != modeDatabase {
			wantRedis = "up"
		}
		if h.Redis["status"] != wantRedis {
			t.Errorf("redis %v, want %s: %s", h.Redis["status"], wantRedis, r.body)
		}
		if c.cookie() != "" {
			t.Error("healthz set a session cookie")
		}

		metric := func(name string) string {
			r := c.getAdmin("/metrics")
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Fatalf("metrics: %d %q", r.status, r.header.Get("Content-Type"))
			}
			for _, line := range strings.Split(string(r.body), "\n") {
				if v, ok := strings.CutPrefix(line, name+" "); ok {
					return v
				}
			}
			t.Fatalf("no %s in\n%s", name, r.body)
			return ""
		}
		if v := metric("sessions_logins_total"); v != "0" {
			t.Errorf("logins before: %s", v)
		}
		c.login("alice")
		e.client(t, "").login("bob")
		if v := metric("sessions_logins_total"); v != "2" {
			t.Errorf("logins after two: %s", v)
		}
		if v := metric("sessions_audit_dropped_total"); v != "0" {
			t.Errorf("audit drops: %s", v)
		}
		if r := c.getAdmin("/metrics"); !strings.Contains(string(r.body), "# TYPE sessions_store_operation_duration_seconds histogram") {
			t.Error("no store latency histogram")
		}
	})
}

// TestPages: GET / renders the login form, then the dashboard.
func TestPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := e.client(t, "PageTest/1")
		r := c.get("/")
		page := string(r.body)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: %d %q", r.status, r.header.Get("Content-Type"))
		}
		for _, want := range []string{`id="login-form"`, `id="username"`, `id="password"`, `<meta name="csrf-token" content="`} {
			if !strings.Contains(page, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
		if strings.Contains(page, `id="sessions"`) {
			t.Error("anonymous page shows the dashboard")
		}
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("CSP %q", r.header.Get("Content-Security-Policy"))
		}
		s := c.state()
		if !strings.Contains(page, `content="`+s.CSRFToken+`"`) {
			t.Error("the page's CSRF token is not the session's")
		}

		c.login("alice")
		c.do("POST", "/api/platform", map[string]int{"platform_connection_id": 2}, csrfValid)
		e.flushAudit(t)
		r = c.get("/")
		page = string(r.body)
		for _, want := range []string{
			`id="user-name">alice<`, `id="user-role">admin<`, `id="platform-name" class="big">pixelfed-photos<`,
			`id="platform-1"`, `id="platform-2"`, `aria-pressed="true"`, `id="sessions"`, `data-ua="PageTest/1"`,
			`this session`, `id="logout-all"`, `id="audit"`, `kind-platform_switched`, `id="session-created" datetime="`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
		if strings.Contains(page, `id="platform-3"`) || strings.Contains(page, `id="login-form"`) {
			t.Error("dashboard shows bob's platform or the login form")
		}
		// Hostile text is escaped.
		evil := e.client(t, `<script>alert(1)</script>`)
		evil.login("alice")
		if r := c.get("/"); strings.Contains(string(r.body), "<script>alert") {
			t.Error("a user agent was rendered unescaped")
		}
		for _, path := range []string{"/static/app.css", "/static/app.js"} {
			if r := c.get(path); r.status != 200 || len(r.body) < 500 {
				t.Errorf("%s: %d, %d bytes", path, r.status, len(r.body))
			}
		}
		if r := c.get("/static/nope.js"); r.status != 404 {
			t.Errorf("missing static file: %d", r.status)
		}
	})
}

// TestNotFound: unknown routes answer JSON 404.
func TestNotFound(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	c := e.client(t, "")
	for _, p := range []string{"/api/nope", "/nope", "/api/prefs/a/b"} {
		r := c.get(p)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.status)
			continue
		}
		r.errMsg(t)
	}
}
