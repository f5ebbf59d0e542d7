package ginsession

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// FuzzReadToken: whatever Cookie headers arrive, the token reader never
// panics, and a token it accepts is exactly one canonical token under the
// session cookie's name. The visitor CSRF cookie reader obeys the same
// rules, and a visitor token never checks out against a made-up cookie.
func FuzzReadToken(f *testing.F) {
	tok := store.NewToken().String()
	for _, s := range []string{
		"", "__Host-session=" + tok, "__Host-session=" + tok + "; __Host-session=" + tok,
		"a=b; __Host-session=" + tok + "x", "__Host-session=\"" + tok + "\"", ";;;=;", "__Host-session=",
		"__Host-session-csrf=AAAAAAAAAAAAAAAAAAAAAA", "\x00\xff=\x7f", strings.Repeat("a=b;", 200),
	} {
		f.Add(s, "")
	}
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		f.Fatal(err)
	}
	m := &Manager{cfg: Config{Cookie: CookieOptions{Name: "__Host-session"}, Now: time.Now,
		VisitorCSRFLifetime: time.Hour}, csrfKeys: kr.SubKeys(visitorCSRFPurpose)}
	f.Fuzz(func(t *testing.T, header, presented string) {
		r := &http.Request{Header: http.Header{"Cookie": strings.Split(header, "\n")}}
		got, reason := m.readCookie(r)
		if got != "" {
			if reason != "" {
				t.Fatalf("token %q with reason %q", got, reason)
			}
			if _, err := store.ParseToken(got.String()); err != nil || !strings.Contains(header, "__Host-session="+got.String()) {
				t.Fatalf("accepted %q from %q", got, header)
			}
		}
		if n := m.readCSRFCookie(r); n != nil && len(n) != visitorNonceBytes {
			t.Fatalf("nonce of %d bytes", len(n))
		}
		if m.checkVisitorCSRF(r, presented) {
			t.Fatalf("a made-up visitor token %q passed for %q", presented, header)
		}
	})
}

// FuzzGet: typed Get decodes any stored bytes into any of several types
// without panicking, and without allocating more than a bounded multiple
// of the input (the codec's limits hold for hostile bytes).
func FuzzGet(f *testing.F) {
	for _, v := range []any{"s", 7, -1.5, []string{"a", "b"}, map[string]any{"k": []any{1, "x", nil}}, User{ID: "1"}, []byte{0}} {
		raw, err := store.EncodeValue(v, store.Limits{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})      // array of 4 G elements
	f.Add([]byte{0xdf, 0x7f, 0xff, 0xff, 0xff})      // map of 2 G entries
	f.Add([]byte{0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'}) // string of 2 GB
	f.Add([]byte(strings.Repeat("\x91", 10000)))     // nesting 10,000 deep
	m := &Manager{cfg: Config{}.withDefaults()}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := &Session{m: m, loaded: true, values: map[string][]byte{"k": raw}}
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		_, _ = Get[string](s, "k")
		_, _ = Get[int64](s, "k")
		_, _ = Get[[]string](s, "k")
		_, _ = Get[map[string]any](s, "k")
		_, _ = Get[any](s, "k")
		_, _ = Get[User](s, "k")
		_, _ = Get[[]byte](s, "k")
		runtime.ReadMemStats(&ms1)
		// Seven decodes; each may cost its input a few times over, plus
		// a fixed overhead. Other goroutines allocate little meanwhile.
		if got, bound := ms1.TotalAlloc-ms0.TotalAlloc, uint64(7*(64*len(raw)+64<<10)); got > bound {
			t.Fatalf("decoding %d bytes allocated %d bytes (bound %d)", len(raw), got, bound)
		}
	})
}
