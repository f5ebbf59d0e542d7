package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInputNever500: hostile cookies, headers, bodies and paths on
// every route answer below 500 (gin's recovery turns a panic into a 500,
// so this also proves nothing panics), and API errors are JSON.
func TestBadInputNever500(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		logged := e.client(t, "")
		logged.login("alice")
		name := e.app.sessions.CookieName()
		cookies := []string{
			"",
			name + "=",
			name + "=x",
			name + "=" + strings.Repeat("A", 43),
			name + "=" + strings.Repeat("A", 4000),
			name + "=%00%ff%fe",
			name + "=a; " + name + "=b",
			name + "=" + logged.cookie() + "; " + name + "=" + logged.cookie(),
			name + "=" + logged.cookie() + "x",
			name + "=\"" + logged.cookie() + "\"",
		}
		bodies := []string{"", "{", "null", `{"username":null,"password":7}`, "\xff\xfe\x00", `{"platform_connection_id":1e400}`,
			`{"platform_connection_id":9223372036854775808}`, `"` + strings.Repeat("\\u0000", 100) + `"`, strings.Repeat("[", 5000)}
		routes := []struct{ method, path string }{
			{"GET", "/"}, {"GET", "/api/session"}, {"POST", "/api/login"}, {"POST", "/api/logout"},
			{"POST", "/api/logout-all"}, {"GET", "/api/platform"}, {"POST", "/api/platform"},
			{"GET", "/api/sessions"}, {"DELETE", "/api/sessions/%00"}, {"DELETE", "/api/sessions/" + strings.Repeat("x", 3000)},
			{"GET", "/api/prefs"}, {"GET", "/api/prefs/%2e%2e"}, {"PUT", "/api/prefs/k"}, {"DELETE", "/api/prefs/k"},
			{"GET", "/api/audit?limit=-1&user_id=%00"}, {"GET", "/api/audit?limit=99999999999999999999"},
			{"GET", "/healthz"}, {"GET", "/static/..%2f..%2fgo.mod"}, {"PATCH", "/api/session"},
		}
		n := 0
		for _, rt := range routes {
			for i, ck := range cookies {
				body := bodies[i%len(bodies)]
				for _, csrf := range []string{"", "x", logged.csrf} {
					req, _ := http.NewRequest(rt.method, e.base+rt.path, strings.NewReader(body))
					if ck != "" {
						req.Header.Set("Cookie", ck)
					}
					if csrf != "" {
						req.Header.Set("X-CSRF-Token", csrf)
					}
					req.Header.Set("User-Agent", "evil\xff\xfe\t<b>"+strings.Repeat("ü", 300))
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s %s: %v", rt.method, rt.path, err)
					}
					res.Body.Close()
					n++
					if res.StatusCode >= 500 {
						t.Errorf("%s %s cookie %q csrf %q body %q: %d", rt.method, rt.path, ck, csrf, body, res.StatusCode)
					}
					if strings.HasPrefix(rt.path, "/api/") && res.StatusCode >= 400 &&
						!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
						t.Errorf("%s %s: %d with Content-Type %q", rt.method, rt.path, res.StatusCode, res.Header.Get("Content-Type"))
					}
				}
			}
		}
		t.Logf("%d hostile requests, none answered 5xx", n)
		// The logged-in session survived all of it.
		if !logged.state().Authenticated {
			t.Error("the hostile requests ended a session they do not own")
		}
	})
}
