package ginsession

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

// FuzzHeaderToken: whatever Authorization and Cookie headers arrive, a
// token is accepted only as exactly one "Bearer <canonical token>" and
// never next to a session cookie.
func FuzzHeaderToken(f *testing.F) {
	tok := store.NewToken().String()
	for _, s := range []string{
		"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "Bearer  " + tok, "Bearer " + tok + " ",
		"Bearer " + tok + "\nBearer " + tok, "Basic dXNlcjpwYXNz", "Basic x\nBearer " + tok, "Bearer",
		"Bearer " + tok[:42] + "B", "Bearer " + tok + "," + tok, "Bearer\t" + tok, "",
	} {
		f.Add(s, "")
		f.Add(s, "__Host-session="+tok)
		f.Add(s, "__Host-session=")
	}
	m := &Manager{cfg: Config{Cookie: CookieOptions{Name: "__Host-session"},
		TokenHeader: TokenHeaderOptions{Enabled: true}.withDefaults()}}
	f.Fuzz(func(t *testing.T, auth, cookie string) {
		h := http.Header{}
		if auth != "" {
			h["Authorization"] = strings.Split(auth, "\n")
		}
		if cookie != "" {
			h["Cookie"] = []string{cookie}
		}
		r := &http.Request{Header: h}
		got, viaHeader, reason := m.readToken(r)
		if got == "" {
			return
		}
		if reason != "" {
			t.Fatalf("token with reason %q", reason)
		}
		if !viaHeader {
			if _, n := m.headerToken(r); n > 0 {
				t.Fatalf("a cookie token accepted beside a header token: %q / %q", auth, cookie)
			}
			return
		}
		if m.hasCookie(r) {
			t.Fatalf("a header token accepted beside a session cookie: %q / %q", auth, cookie)
		}
		if _, err := store.ParseToken(got.String()); err != nil || len(h["Authorization"]) == 0 {
			t.Fatalf("accepted %q from %q", got, auth)
		}
		n := 0
		for _, v := range h["Authorization"] {
			if len(v) >= 7 && strings.EqualFold(v[:7], "bearer ") {
				n++
				if v[7:] != got.String() {
					t.Fatalf("accepted %q from %q", got, v)
				}
			}
		}
		if n != 1 {
			t.Fatalf("accepted a token from %d bearer values: %q", n, auth)
		}
	})
}
