package ginsession_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/store"
)

func TestRoundTrip(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	assert.Equal(t, "missing", c.get("/get/name"))
	assert.Equal(t, "", c.cookie(), "reading an empty session must not create one")
	c.post("/set/name?v=alice")
	require.NotEmpty(t, c.cookie())
	assert.Equal(t, "alice", c.get("/get/name"))
	assert.Contains(t, a.events.kinds(), "created")
}

func TestUntouchedMakesNoStoreCall(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/set/k?v=v")
	before := a.store.total()
	resp, _ := c.do("GET", "/untouched", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Equal(t, before, a.store.total(), "a request that never touches the session must not call the store")
}

// A new session writes nothing until a value is set: crawlers that never
// log in cost no store write.
func TestNoWriteForEmptySession(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	for range 5 {
		c.get("/get/x")
		c.get("/whoami")
	}
	assert.Zero(t, a.store.puts.Load())
	assert.Equal(t, "", c.cookie())
}

func TestMalformedCookiesAreNoSession(t *testing.T) {
	a := newApp(t, nil, nil)
	name := a.mgr.CookieName()
	valid := store.NewToken().String()
	cases := []struct{ name, header string }{
		{"empty", name + "="},
		{"whitespace", name + "=   "},
		{"short", name + "=" + valid[:42]},
		{"long", name + "=" + valid + "A"},
		{"padding", name + "=" + valid[:42] + "="},
		{"std alphabet", name + "=" + strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+"},
		{"url escaped", name + "=" + "%2D" + valid[3:]},
		{"quoted", name + `="` + valid + `"`},
		{"two cookies", name + "=" + valid + "; " + name + "=" + store.NewToken().String()},
		{"junk 4KB", name + "=" + strings.Repeat("x", 4096)},
		{"non-canonical", name + "=" + valid[:42] + "B"},
		{"unicode", name + "=" + valid[:41] + "é"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.store.total()
			c := a.client()
			resp, body := c.do("GET", "/get/x", http.Header{"Cookie": {tc.header}})
			assert.Equal(t, 404, resp.StatusCode, body) // "missing": an empty session
			assert.Equal(t, before, a.store.total(), "no store call for a malformed cookie")
			resp, body = c.do("POST", "/set/x?v=1", http.Header{"Cookie": {tc.header}})
			assert.Equal(t, 200, resp.StatusCode, body)
			var issued string
			for _, ck := range resp.Cookies() {
				if ck.Name == name && ck.MaxAge >= 0 {
					issued = ck.Value
				}
			}
			_, err := store.ParseToken(issued)
			assert.NoError(t, err, "a fresh, well-formed token is issued")
			assert.NotContains(t, tc.header, issued)
		})
	}
}

// Fixation: a token the server never issued is never adopted; logging in
// with it yields a new token and nothing is ever stored under the planted one.
func TestFixation(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	planted := store.NewToken()
	c.setCookie(planted.String())
	c.post("/set/cart?v=1")
	afterSet := c.cookie()
	assert.NotEqual(t, planted.String(), afterSet, "an unknown token must be replaced")
	c.post("/login/7")
	loggedIn := c.cookie()
	assert.NotEqual(t, planted.String(), loggedIn)
	assert.NotEqual(t, afterSet, loggedIn, "login rotates the token")
	_, err := a.store.Store.Get(context.Background(), planted.Key())
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing stored under the planted token")
	assertEnded(t, a, afterSet)
	assert.Equal(t, "7", c.get("/whoami"))
	assert.Equal(t, "1", c.get("/get/cart"), "values survive login")
	assert.Contains(t, a.events.kinds(), "rejected:unknown")
	assert.Contains(t, a.events.kinds(), "login")
	assert.Contains(t, a.events.kinds(), "rotated")
}

func TestLogoutReplay(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/login/1")
	c.post("/set/secret?v=s3")
	old := c.cookie()
	resp, _ := c.do("POST", "/logout", nil)
	assert.Contains(t, resp.Header.Get("Set-Cookie"), "Max-Age=0")
	assert.Equal(t, "", c.cookie())

	replay := a.client()
	replay.setCookie(old)
	assert.Equal(t, "anonymous", replay.get("/whoami"))
	assert.Equal(t, "missing", replay.get("/get/secret"))
}

// A slow request that loaded the session before logout must not bring it
// back when it saves afterwards.
func TestLogoutBeatsSlowSave(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/login/1")
	tok := c.cookie()
	key := store.KeyFromToken(tok)

	done := make(chan string)
	go func() {
		slow := a.client()
		slow.setCookie(tok)
		resp, body := slow.do("POST", "/set/late?v=1&sleep=400ms", nil)
		done <- fmt.Sprint(resp.StatusCode, " ", body, " ", resp.Header.Get("Set-Cookie"))
	}()
	time.Sleep(100 * time.Millisecond) // let the slow request load the session
	c.post("/logout")
	res := <-done
	assert.True(t, strings.HasPrefix(res, "200"), res)
	assertEnded(t, a, tok)
	_ = key
}

// 50 concurrent requests on one session, each setting its own key: the
// compare-and-set with merge keeps all 50.
func TestConcurrentWritesMerge(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/set/seed?v=0")
	tok := c.cookie()
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := a.client()
			cc.setCookie(tok)
			resp, body := cc.do("POST", fmt.Sprintf("/set/k%02d?v=%d", i, i), nil)
			if resp.StatusCode != 200 {
				errs <- body
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var keys []string
	require.NoError(t, json.Unmarshal([]byte(c.get("/keys")), &keys))
	assert.Len(t, keys, 51, "all 50 concurrent writes and the seed survive")
	assert.Equal(t, tok, c.cookie(), "updates keep the token")
}

// Same key from two writers: the last writer wins, nobody errors.
func TestConcurrentSameKeyLastWriterWins(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/set/k?v=first")
	tok := c.cookie()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := a.client()
			cc.setCookie(tok)
			cc.post(fmt.Sprintf("/set/k?v=w%d", i))
		}()
	}
	wg.Wait()
	assert.Regexp(t, `^w\d$`, c.get("/get/k"))
}

func TestIdleTimeout(t *testing.T) {
	clk := &clock{now: time.Now()}
	a := newApp(t, nil, func(c *ginsession.Config) {
		c.Now = clk.Now
		c.IdleTimeout = 30 * time.Minute
		c.AbsoluteTimeout = 10 * time.Hour
	})
	c := a.client()
	c.post("/set/k?v=v")
	for range 5 { // active every 20 minutes: stays alive past the idle timeout
		clk.Advance(20 * time.Minute)
		require.Equal(t, "v", c.get("/get/k"))
	}
	clk.Advance(31 * time.Minute)
	assert.Equal(t, "missing", c.get("/get/k"), "idle for longer than the timeout ends the session")
	assert.Contains(t, a.events.kinds(), "expired")
}

func TestAbsoluteTimeout(t *testing.T) {
	clk := &clock{now: time.Now()}
	a := newApp(t, nil, func(c *ginsession.Config) {
		c.Now = clk.Now
		c.IdleTimeout = time.Hour
		c.AbsoluteTimeout = 3 * time.Hour
	})
	c := a.client()
	c.post("/login/1")
	c.post("/set/k?v=v")
	for range 5 { // 2.5 h of steady activity
		clk.Advance(30 * time.Minute)
		require.Equal(t, "v", c.get("/get/k"))
		c.post("/set/n?v=x")
	}
	c.post("/rotate-absent") // 404, harmless
	clk.Advance(31 * time.Minute)
	assert.Equal(t, "missing", c.get("/get/k"), "the absolute timeout ends even an active session")
	assert.Equal(t, "anonymous", c.get("/whoami"))
}

func TestRotationKeepsAbsoluteDeadline(t *testing.T) {
	a := newApp(t, nil, nil)
	r := gin.New()
	r.Use(a.mgr.Middleware())
	var before, after ginsession.Info
	r.POST("/rot", func(c *gin.Context) {
		s := ginsession.Current(c)
		_ = s.Set("x", 1)
		require.NoError(t, s.Save())
		before, _, _ = s.Info()
		require.NoError(t, ginsession.Current(c).Rotate("rotate"))
		after, _, _ = s.Info()
		c.Status(204)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/rot", nil))
	require.Equal(t, 204, w.Code)
	assert.NotEqual(t, before.Handle, after.Handle)
	assert.Equal(t, before.AbsoluteDeadline, after.AbsoluteDeadline)
	assert.Equal(t, before.Created, after.Created)
}

func TestRotateHookVeto(t *testing.T) {
	var seen []ginsession.Rotation
	a := newApp(t, nil, func(c *ginsession.Config) {
		c.OnRotate = []ginsession.RotateHook{func(_ context.Context, r ginsession.Rotation) error {
			seen = append(seen, r)
			if r.UserID == "evil" {
				return fmt.Errorf("no")
			}
			return nil
		}}
	})
	c := a.client()
	c.post("/set/a?v=1")
	first := c.cookie()
	c.post("/login/1")
	require.Len(t, seen, 1)
	assert.Equal(t, store.Handle(store.KeyFromToken(first)), seen[0].Old, "hooks see handles, never tokens")
	assert.Equal(t, store.Handle(store.KeyFromToken(c.cookie())), seen[0].New)
	assert.NotContains(t, seen[0].Old+seen[0].New, first)
	resp, body := c.do("POST", "/login/evil", nil)
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, body, "vetoed")
	assert.Equal(t, "1", c.get("/whoami"), "a vetoed login changes nothing")
}

func TestStreamingCommitsBeforeFirstByte(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	resp, body := c.do("GET", "/stream", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Set-Cookie"), "the cookie goes out with the stream's headers")
	assert.Contains(t, body, "event:tick")
	assert.Equal(t, "yes", c.get("/get/streamed"))
}

// brokenPuts fails every Put with an error that is not an outage.
type brokenPuts struct{ store.Store }

func (b brokenPuts) Put(context.Context, *store.Entry, uint64) error {
	return errors.New("test: broken store")
}

// A save that fails answers with a generic body and no cookie: 503 with
// Retry-After when the store is unavailable (here: its database closed
// between the handler's Set and the commit), 500 for any other failure.
func TestSaveFailureIsGeneric(t *testing.T) {
	for _, outage := range []bool{true, false} {
		for _, stream := range []bool{false, true} {
			sq := sqliteStore(t)
			var st store.Store = sq
			if !outage {
				st = brokenPuts{sq}
			}
			a := newApp(t, st, nil)
			r := gin.New()
			r.Use(a.mgr.Middleware())
			r.POST("/", func(c *gin.Context) {
				require.NoError(t, ginsession.Current(c).Set("k", "v"))
				if outage {
					_ = sq.DB().Close() // a real failure between the handler's Set and the commit
				}
				if stream {
					c.String(200, "handler output")
				} else {
					c.Status(200) // nothing written: the commit runs at the end of the chain
				}
			})
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
			if outage {
				assert.Equal(t, 503, w.Code)
				assert.Equal(t, "1", w.Header().Get("Retry-After"))
				assert.Equal(t, `{"error":"session store unavailable"}`, w.Body.String(), "a generic body, no internals")
			} else {
				assert.Equal(t, 500, w.Code)
				assert.Empty(t, w.Header().Get("Retry-After"))
				assert.Equal(t, `{"error":"session could not be saved"}`, w.Body.String(), "a generic body, no internals")
			}
			assert.Empty(t, w.Header().Get("Set-Cookie"))
		}
	}
}

func TestTamperedPayloadIsFreshSession(t *testing.T) {
	st := sqliteStore(t)
	a := newApp(t, st, nil)
	c := a.client()
	c.post("/set/k?v=secret")
	key := store.KeyFromToken(c.cookie())
	_, err := st.DB().Exec(`UPDATE sessions SET payload = CAST('garbage' AS BLOB) WHERE key = ?`, key)
	require.NoError(t, err)
	assert.Equal(t, "missing", c.get("/get/k"))
	assert.Contains(t, a.events.kinds(), "rejected:decrypt")
	c.post("/set/k?v=new")
	assert.NotEqual(t, key, store.KeyFromToken(c.cookie()), "a session that does not open is replaced, not adopted")
}

func TestCookieAttributes(t *testing.T) {
	st := sqliteStore(t)
	kr := testapp.Keyring(t)
	cases := []struct {
		name string
		cfg  ginsession.Config
		want []string
		not  []string
	}{
		{"defaults", ginsession.Config{}, []string{"__Host-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"}, []string{"Domain", "Max-Age", "Partitioned"}},
		{"insecure dev", ginsession.Config{Cookie: ginsession.CookieOptions{Insecure: true}}, []string{"session=", "HttpOnly", "SameSite=Lax"}, []string{"Secure", "__Host-"}},
		{"domain", ginsession.Config{Cookie: ginsession.CookieOptions{Domain: "example.com", Name: "sid"}}, []string{"sid=", "Domain=example.com", "Secure"}, []string{"__Host-"}},
		{"strict", ginsession.Config{Cookie: ginsession.CookieOptions{SameSite: http.SameSiteStrictMode}}, []string{"SameSite=Strict"}, nil},
		{"none partitioned", ginsession.Config{Cookie: ginsession.CookieOptions{SameSite: http.SameSiteNoneMode, Partitioned: true}}, []string{"SameSite=None", "Secure", "Partitioned"}, nil},
		{"persistent", ginsession.Config{Cookie: ginsession.CookieOptions{Persistent: true}, AbsoluteTimeout: time.Hour}, []string{"Max-Age=3600"}, nil},
		{"script readable", ginsession.Config{Cookie: ginsession.CookieOptions{ScriptReadable: true}}, []string{"Secure"}, []string{"HttpOnly"}},
		{"path", ginsession.Config{Cookie: ginsession.CookieOptions{Path: "/app", Name: "sid"}}, []string{"sid=", "Path=/app"}, []string{"__Host-"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Store, cfg.Keyring = st, kr
			r := gin.New()
			r.Use(ginsession.New(cfg))
			r.GET("/", func(c *gin.Context) { _ = ginsession.Current(c).Set("a", 1); c.Status(204) })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			sc := w.Header().Get("Set-Cookie")
			for _, want := range tc.want {
				assert.Contains(t, sc, want)
			}
			for _, not := range tc.not {
				assert.NotContains(t, sc, not)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	st := sqliteStore(t)
	kr := testapp.Keyring(t)
	cases := []struct {
		name  string
		cfg   ginsession.Config
		field string
	}{
		{"no store", ginsession.Config{Keyring: kr}, "Store"},
		{"no keyring", ginsession.Config{Store: st}, "SESSION_ENCRYPTION_KEYS"},
		{"host prefix insecure", ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Name: "__Host-x", Insecure: true}}, "Cookie.Name"},
		{"host prefix domain", ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Name: "__Host-x", Domain: "a.com"}}, "Cookie.Name"},
		{"samesite none insecure", ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{SameSite: http.SameSiteNoneMode, Insecure: true}}, "Cookie.SameSite"},
		{"bad name", ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Name: "a b"}}, "Cookie.Name"},
		{"negative idle", ginsession.Config{Store: st, Keyring: kr, IdleTimeout: -time.Second}, "IdleTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ginsession.NewManager(tc.cfg)
			require.ErrorIs(t, err, ginsession.ErrConfig)
			assert.Contains(t, err.Error(), tc.field)
			assert.Panics(t, func() { ginsession.New(tc.cfg) })
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	key := store.GenerateKey()
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	cfg, err := ginsession.ConfigFromLookup(env(map[string]string{
		"REDIS_SESSION_TIMEOUT":   "7200",
		"SESSION_COOKIE_NAME":     "vedfolnir_session",
		"SESSION_COOKIE_HTTPONLY": "true",
		"SESSION_COOKIE_SECURE":   "false",
		"SESSION_COOKIE_SAMESITE": "Strict",
		"SESSION_ENCRYPTION_KEYS": key,
	}))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, cfg.IdleTimeout)
	assert.Equal(t, "vedfolnir_session", cfg.Cookie.Name)
	assert.True(t, cfg.Cookie.Insecure)
	assert.False(t, cfg.Cookie.ScriptReadable)
	assert.Equal(t, http.SameSiteStrictMode, cfg.Cookie.SameSite)
	require.NotNil(t, cfg.Keyring)

	bad := []struct{ name, val string }{
		{"SESSION_COOKIE_SAMESITE", "Sideways"},
		{"REDIS_SESSION_TIMEOUT", "-5"},
		{"REDIS_SESSION_TIMEOUT", "2h"},
		{"SESSION_COOKIE_SECURE", "maybe"},
		{"SESSION_COOKIE_HTTPONLY", "y"}, // an empty value is unset (TestEnvEmptyIsUnset)
		{"SESSION_ABSOLUTE_TIMEOUT", "0"},
		{"SESSION_COOKIE_NAME", "a;b"},
		{"SESSION_ENCRYPTION_KEYS", "not-base64!"},
	}
	for _, b := range bad {
		t.Run(b.name+"="+b.val, func(t *testing.T) {
			_, err := ginsession.ConfigFromLookup(env(map[string]string{b.name: b.val}))
			require.ErrorIs(t, err, ginsession.ErrConfig)
			assert.Contains(t, err.Error(), b.name)
		})
	}
}

func TestReservedAndTypedAccess(t *testing.T) {
	a := newApp(t, nil, nil)
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Current(c)
		assert.ErrorIs(t, s.Set("", 1), ginsession.ErrReservedKey)
		assert.ErrorIs(t, s.Set("\x00u", 1), ginsession.ErrReservedKey)
		assert.Error(t, s.Set("ch", make(chan int)), "encoding errors surface at Set")
		assert.ErrorIs(t, s.Set("big", strings.Repeat("x", 100<<10)), store.ErrTooLarge)
		type prefs struct {
			Theme string
			Size  int
		}
		require.NoError(t, s.Set("prefs", prefs{"dark", 3}))
		p, err := ginsession.Get[prefs](s, "prefs")
		require.NoError(t, err)
		assert.Equal(t, prefs{"dark", 3}, p)
		_, err = ginsession.Get[int](s, "prefs")
		assert.Error(t, err, "a value that does not fit T is an error, not a zero")
		_, err = ginsession.Get[int](s, "absent")
		assert.ErrorIs(t, err, ginsession.ErrNoValue)
		assert.Equal(t, 9, ginsession.GetOr(s, "absent", 9))
		require.NoError(t, s.AddFlash("hello"))
		require.NoError(t, s.AddFlash("world"))
		f, err := s.Flashes()
		require.NoError(t, err)
		assert.Equal(t, []string{"hello", "world"}, f)
		f, _ = s.Flashes()
		assert.Empty(t, f)
		c.Status(204)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 204, w.Code)
}

func TestUntouchedAllocations(t *testing.T) {
	a := newApp(t, nil, nil)
	bare := gin.New()
	bare.GET("/", func(c *gin.Context) { c.Status(204) })
	with := gin.New()
	with.Use(a.mgr.Middleware())
	with.GET("/", func(c *gin.Context) { c.Status(204) })
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", a.mgr.CookieName()+"="+store.NewToken().String())
	measure := func(h http.Handler) float64 {
		return testing.AllocsPerRun(200, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	}
	added := measure(with) - measure(bare)
	t.Logf("allocations added on the untouched path: %.0f", added)
	// The session struct and gin's lazily made Keys map (two allocations in
	// Go's map layout); the race detector may add one.
	assert.LessOrEqual(t, added, 4.0)
	assert.Zero(t, a.store.total())
}

// A tab's request that still carries a token which another tab's login just
// rotated away must not answer with an expiring Set-Cookie: cookies are kept
// by name, so it would erase the new cookie the login delivered.
func TestStaleTokenDoesNotExpireCookie(t *testing.T) {
	a := newApp(t, nil, nil)
	c := a.client()
	c.post("/set/k?v=1")
	stale := c.cookie()
	c.post("/login/1") // rotates: stale is dead now
	tab := a.client()  // the other tab's request, sent before it saw the new cookie
	tab.setCookie(stale)
	for _, path := range []string{"/whoami", "/get/k"} {
		resp, _ := tab.do("GET", path, nil)
		assert.Empty(t, resp.Header.Values("Set-Cookie"), "%s with a stale token must leave the cookie alone", path)
	}
	assert.Equal(t, "1", c.get("/whoami"), "the new cookie still works")
	bad := a.client()
	bad.setCookie("garbage")
	resp, _ := bad.do("GET", "/whoami", nil)
	assert.Contains(t, resp.Header.Get("Set-Cookie"), "Max-Age=0", "a malformed cookie is expired")
}
