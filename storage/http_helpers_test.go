package storage_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// quiet is a logger for tests that make servers fail on purpose.
var quiet = slog.New(slog.DiscardHandler)

// eventCount counts session events by kind.
type eventCount struct {
	mu sync.Mutex
	n  map[ginsession.EventKind]int
}

func (e *eventCount) add(ev ginsession.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[ginsession.EventKind]int{}
	}
	e.n[ev.Kind]++
}

func (e *eventCount) get(k ginsession.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[k]
}

// app is the middleware on a Storage behind a real HTTP server: one
// "process" of the application. Restarting means closing it and building a
// new one on the same servers.
type app struct {
	st     *storage.Storage
	mgr    *ginsession.Manager
	srv    *httptest.Server
	events *eventCount
}

// startApp opens the storage the env describes (with opts) and serves
// the middleware on it. OnStateChange is wired to the manager's events, as
// an application does.
func startApp(t testing.TB, env map[string]string, kr *store.Keyring, opts storage.Options) *app {
	t.Helper()
	a := &app{events: &eventCount{}}
	var mgr atomic.Pointer[ginsession.Manager]
	user := opts.Hybrid.OnStateChange
	opts.Hybrid.OnStateChange = func(engaged bool) {
		if user != nil {
			user(engaged)
		}
		kind := ginsession.EventFallbackRecovered
		if engaged {
			kind = ginsession.EventFallbackEngaged
		}
		if m := mgr.Load(); m != nil {
			m.Emit(ginsession.Event{Kind: kind})
		}
	}
	opts.Lookup = lookup(env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := storage.FromEnv(ctx, opts)
	if err != nil {
		t.Fatalf("FromEnv(%v): %v", env, err)
	}
	a.st = st
	m, err := ginsession.NewManager(ginsession.Config{
		Store: st.Store(), Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true},
		OnEvent: []ginsession.EventHandler{a.events.add},
		Logger:  quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr.Store(m)
	a.mgr = m
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	r.Use(m.Middleware())
	r.GET("/v/:key", func(c *gin.Context) {
		v, err := ginsession.Get[string](ginsession.Current(c), c.Param("key"))
		switch {
		case err == nil:
			c.String(200, v)
		case errors.Is(err, ginsession.ErrNoValue):
			c.String(404, "missing")
		default:
			c.String(500, err.Error())
		}
	})
	r.POST("/v/:key", func(c *gin.Context) {
		if err := ginsession.Current(c).Set(c.Param("key"), c.Query("v")); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "ok")
	})
	testapp.IdentityRoutes(r)
	a.srv = httptest.NewServer(r)
	return a
}

// stop shuts the app down: server first, then the storage.
func (a *app) stop(t testing.TB) {
	t.Helper()
	a.srv.Close()
	if err := a.st.Close(); err != nil {
		t.Errorf("storage Close: %v", err)
	}
}

// browser is one client with its own cookie jar. Cookies ignore ports, so
// it keeps its session across app restarts on new ports.
type browser struct {
	t   testing.TB
	hc  *http.Client
	jar *cookiejar.Jar
}

var sharedTransport = &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: 30 * time.Second}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, hc: &http.Client{Jar: jar, Transport: sharedTransport, Timeout: 20 * time.Second}}
}

// do sends a request and returns the status and body (status 0 on a
// transport error).
func (b *browser) do(a *app, method, path string) (int, string) {
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, string(body)
}

// must sends a request that must answer want.
func (b *browser) must(a *app, method, path string, want int) string {
	b.t.Helper()
	code, body := b.do(a, method, path)
	if code != want {
		b.t.Fatalf("%s %s: %d %q, want %d", method, path, code, body, want)
	}
	return body
}

// token returns the browser's session cookie value for app a ("" for none).
func (b *browser) token(a *app) string {
	u, _ := url.Parse(a.srv.URL)
	for _, ck := range b.jar.Cookies(u) {
		if ck.Name == a.mgr.CookieName() {
			return ck.Value
		}
	}
	return ""
}

// setToken makes the browser present token (a replayed cookie).
func (b *browser) setToken(a *app, token string) {
	u, _ := url.Parse(a.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: a.mgr.CookieName(), Value: token, Path: "/"}})
}

// key returns the store key of the browser's session cookie for app a.
func (b *browser) key(a *app) string {
	u, _ := url.Parse(a.srv.URL)
	for _, ck := range b.jar.Cookies(u) {
		if ck.Name == a.mgr.CookieName() {
			return store.KeyFromToken(ck.Value)
		}
	}
	return ""
}
