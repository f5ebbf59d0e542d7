package security

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

func init() { gin.SetMode(gin.TestMode) }

// counting forwards to a real store and counts the calls, so a case can
// prove that an attack cost no store call. It forwards every optional
// capability the module's stores have, so the manager sees the same store.
type counting struct {
	store.Store
	calls atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (*store.Entry, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	c.calls.Add(1)
	return c.Store.Put(ctx, e, prev)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.calls.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *counting) Touch(ctx context.Context, key string, la, idle time.Time) error {
	c.calls.Add(1)
	return c.Store.Touch(ctx, key, la, idle)
}

func (c *counting) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, before time.Time) (*store.Entry, error) {
	c.calls.Add(1)
	return c.Store.(store.GetToucher).GetTouch(ctx, key, now, idle, before)
}

func (c *counting) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	c.calls.Add(1)
	return c.Store.(store.UserIndex).ListUser(ctx, userID)
}

func (c *counting) DeleteUser(ctx context.Context, userID, keep string) (int, error) {
	c.calls.Add(1)
	return c.Store.(store.UserIndex).DeleteUser(ctx, userID, keep)
}

func (c *counting) CopyIn(ctx context.Context, e *store.Entry) (bool, error) {
	c.calls.Add(1)
	return c.Store.(store.Copier).CopyIn(ctx, e)
}

// recorder keeps every event a manager emits.
type recorder struct {
	mu     sync.Mutex
	events []ginsession.Event
}

func (r *recorder) add(e ginsession.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// since returns the events from index i on.
func (r *recorder) since(i int) []ginsession.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ginsession.Event(nil), r.events[min(i, len(r.events)):]...)
}

// rejects returns the reasons of "rejected" events from index i on.
func (r *recorder) rejects(i int) []string {
	var out []string
	for _, e := range r.since(i) {
		if e.Kind == ginsession.EventRejected {
			out = append(out, e.Detail)
		}
	}
	return out
}

// app is the test app: a manager on a real store behind a real HTTP server.
type app struct {
	t      testing.TB
	srv    *httptest.Server
	mgr    *ginsession.Manager
	st     *counting
	raw    rawStore
	kr     *store.Keyring
	events *recorder

	mu     sync.Mutex
	faults []string // panics and 5xx answers, with the request that caused them

	gates sync.Map // name -> *gate, for the slow route
}

// gate holds a slow request after it loaded its session until released.
type gate struct {
	arrived chan struct{}
	release chan struct{}
}

// appOptions shape a test app.
type appOptions struct {
	tls   bool                     // serve over TLS with the default (secure) cookie settings
	tweak func(*ginsession.Config) // adjust the config
	clock *clock                   // the manager's clock; real time when nil
}

func newApp(t testing.TB, st store.Store, raw rawStore, kr *store.Keyring, o appOptions) *app {
	t.Helper()
	a := &app{t: t, st: &counting{Store: st}, raw: raw, kr: kr, events: &recorder{}}
	cfg := ginsession.Config{
		Store:        a.st,
		Keyring:      kr,
		Cookie:       ginsession.CookieOptions{Insecure: !o.tls}, // plain-HTTP test servers: the jar drops Secure cookies there
		RecordDevice: true,
		OnEvent:      []ginsession.EventHandler{a.events.add},
	}
	if o.clock != nil {
		cfg.Now = o.clock.Now
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	mgr, err := ginsession.NewManager(cfg)
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	a.mgr = mgr
	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{})
	if err != nil {
		t.Fatalf("csrf: %v", err)
	}
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatalf("trusted proxies: %v", err)
	}
	r.Use(a.watch, mgr.Middleware(), csrf)
	a.routes(r)
	if o.tls {
		a.srv = httptest.NewTLSServer(r)
	} else {
		a.srv = httptest.NewServer(r)
	}
	t.Cleanup(a.srv.Close)
	return a
}

// watch records panics and 5xx answers. A panic is answered with 500 so the
// client sees it too; the case fails either way.
func (a *app) watch(c *gin.Context) {
	req := c.Request.Method + " " + c.Request.URL.Path
	defer func() {
		if p := recover(); p != nil {
			a.fault(fmt.Sprintf("panic in %s: %v\n%s", req, p, debug.Stack()))
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		if s := c.Writer.Status(); s >= 500 {
			a.fault(fmt.Sprintf("%s answered %d", req, s))
		}
	}()
	c.Next()
}

func (a *app) fault(msg string) {
	a.mu.Lock()
	a.faults = append(a.faults, msg)
	a.mu.Unlock()
}

func (a *app) faultList() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.faults...)
}

// statusFor maps a library error to the status a careful app would send.
func statusFor(err error) int {
	switch {
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, store.ErrLimit):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ginsession.ErrReservedKey), errors.Is(err, ginsession.ErrNoUser), errors.Is(err, store.ErrEncode):
		return http.StatusBadRequest
	case errors.Is(err, ginsession.ErrNoSession):
		return http.StatusUnauthorized
	case errors.Is(err, ginsession.ErrTooManySessions):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func fail(c *gin.Context, err error) {
	c.AbortWithStatusJSON(statusFor(err), gin.H{"error": err.Error()})
}

func (a *app) routes(r *gin.Engine) {
	r.GET("/ip", func(c *gin.Context) { c.String(200, c.ClientIP()) })
	r.GET("/csrf", func(c *gin.Context) {
		tok, err := ginsession.Current(c).CSRFToken()
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"csrf": tok})
	})
	r.GET("/whoami", func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		// The id in hex too: JSON would replace bytes that are not UTF-8.
		c.JSON(200, gin.H{"user": u.ID, "user_hex": hex.EncodeToString([]byte(u.ID)), "handle": ginsession.Current(c).Handle()})
	})
	r.GET("/get/:key", func(c *gin.Context) {
		s := ginsession.Current(c)
		var v any
		var err error
		switch c.Query("as") {
		case "any":
			v, err = ginsession.Get[any](s, c.Param("key"))
		case "map":
			v, err = ginsession.Get[map[string]any](s, c.Param("key"))
		default:
			v, err = ginsession.Get[string](s, c.Param("key"))
		}
		switch {
		case errors.Is(err, ginsession.ErrNoValue):
			c.JSON(404, gin.H{"error": "no value"})
		case errors.Is(err, store.ErrDecode):
			c.JSON(422, gin.H{"error": "value does not decode"})
		case err != nil:
			fail(c, err)
		default:
			c.JSON(200, gin.H{"value": v})
		}
	})
	r.POST("/set/:key", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.AbortWithStatus(400)
			return
		}
		if err := ginsession.Current(c).Set(c.Param("key"), string(body)); err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"ok": true})
	})
	// slow loads the session, waits at its gate, then sets the body (or
	// "late") as a value; with ?then=rotate it rotates the token instead.
	r.POST("/slow/:key", func(c *gin.Context) {
		s := ginsession.Current(c)
		if _, err := s.Has("x"); err != nil { // load now
			fail(c, err)
			return
		}
		if g, ok := a.gates.Load(c.Query("gate")); ok {
			g := g.(*gate)
			close(g.arrived)
			select {
			case <-g.release:
			case <-time.After(10 * time.Second):
			}
		}
		if c.Query("then") == "rotate" {
			if err := ginsession.Current(c).Rotate("rotate"); err != nil {
				fail(c, err)
				return
			}
			c.JSON(200, gin.H{"ok": true})
			return
		}
		val := "late"
		if b, _ := io.ReadAll(c.Request.Body); len(b) > 0 {
			val = string(b)
		}
		if err := s.Set(c.Param("key"), val); err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"ok": true})
	})
	r.POST("/login", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.AbortWithStatus(400)
			return
		}
		if err := ginsession.Current(c).Login(ginsession.User{ID: string(body), Username: "name", Role: "user"}); err != nil {
			fail(c, err)
			return
		}
		tok, err := ginsession.Current(c).CSRFToken()
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"csrf": tok})
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := ginsession.Current(c).Logout(); err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"ok": true})
	})
	r.POST("/logout-all", func(c *gin.Context) {
		n, err := ginsession.Current(c).LogoutEverywhere(c.Request.Context())
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, gin.H{"revoked": n})
	})
	// revoke ends one of the current user's sessions by its handle.
	r.POST("/revoke/:handle", func(c *gin.Context) {
		u, ok := ginsession.CurrentUser(c)
		if !ok {
			fail(c, ginsession.ErrNoSession)
			return
		}
		err := a.mgr.RevokeSession(c.Request.Context(), u.ID, c.Param("handle"))
		if errors.Is(err, ginsession.ErrSessionNotFound) {
			c.JSON(404, gin.H{"error": "no such session"})
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		c.Status(204)
	})
	r.GET("/sessions", func(c *gin.Context) {
		list, err := ginsession.Current(c).UserSessions(c.Request.Context())
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(200, list)
	})
}

// newGate registers a gate for the slow route.
func (a *app) newGate(name string) *gate {
	g := &gate{arrived: make(chan struct{}), release: make(chan struct{})}
	a.gates.Store(name, g)
	return g
}

// client is a browser: a cookie jar, a user agent, and the CSRF token the
// app last gave it.
type client struct {
	t    testing.TB
	a    *app
	hc   *http.Client
	jar  *cookiejar.Jar
	ua   string
	csrf string
}

func (a *app) client() *client {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if a.srv.TLS != nil {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	}
	return &client{t: a.t, a: a, hc: hc, jar: jar, ua: "security-test/1.0"}
}

// response is what a request got back.
type response struct {
	status int
	body   string
	header http.Header
}

// json decodes the body into v.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Errorf("body %q: %v", r.body, err)
	}
}

// setCookies returns the response's Set-Cookie lines.
func (r response) setCookies() []string { return r.header.Values("Set-Cookie") }

// send makes exactly the request given (plus the jar's cookies and the
// user agent, unless hdr sets them) and never fails on a status. A
// transport error (the server crashed?) ends the case.
func (c *client) send(method, path string, body []byte, hdr http.Header) response {
	c.t.Helper()
	r, err := c.do(method, path, body, hdr)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	return r
}

// sendBg is send for goroutines other than the case's: a transport error
// is reported (never fatal, which must not happen off the case goroutine)
// and the status is 0.
func (c *client) sendBg(method, path string, body []byte, hdr http.Header) response {
	r, err := c.do(method, path, body, hdr)
	if err != nil {
		c.t.Errorf("%v", err)
	}
	return r
}

func (c *client) do(method, path string, body []byte, hdr http.Header) (response, error) {
	req, err := http.NewRequest(method, c.a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return response{}, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("User-Agent", c.ua)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w (did the server crash?)", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

func (c *client) get(path string) response { c.t.Helper(); return c.send("GET", path, nil, nil) }

// post sends an unsafe request with the client's CSRF token, fetching one
// first if it has none.
func (c *client) post(path string, body []byte) response {
	c.t.Helper()
	if c.csrf == "" {
		c.refreshCSRF()
	}
	r := c.send("POST", path, body, http.Header{ginsession.CSRFHeader: {c.csrf}})
	if strings.HasPrefix(path, "/login") && r.status == 200 {
		var v struct{ CSRF string }
		r.json(c.t, &v)
		c.csrf = v.CSRF
	}
	return r
}

// refreshCSRF asks the app for the session's CSRF token.
func (c *client) refreshCSRF() {
	c.t.Helper()
	r := c.get("/csrf")
	if r.status != 200 {
		c.t.Fatalf("GET /csrf: %d %s", r.status, r.body)
	}
	var v struct{ CSRF string }
	r.json(c.t, &v)
	c.csrf = v.CSRF
}

// must fails the case unless r has status want.
func must(t testing.TB, r response, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// login logs the client in as uid and returns its new token.
func (c *client) login(uid string) store.Token {
	c.t.Helper()
	must(c.t, c.post("/login", []byte(uid)), 200)
	return c.token()
}

// set stores a value and fails the case unless the app says ok.
func (c *client) set(key, val string) {
	c.t.Helper()
	must(c.t, c.post("/set/"+key, []byte(val)), 200)
}

// value reads a value: its text and the status (404 when missing).
func (c *client) value(key string) (string, int) {
	c.t.Helper()
	r := c.get("/get/" + key)
	var v struct{ Value string }
	if r.status == 200 {
		r.json(c.t, &v)
	}
	return v.Value, r.status
}

// whoami returns the user id the app sees ("" for anonymous).
func (c *client) whoami() string {
	c.t.Helper()
	r := must(c.t, c.get("/whoami"), 200)
	var v struct {
		UserHex string `json:"user_hex"`
	}
	r.json(c.t, &v)
	id, err := hex.DecodeString(v.UserHex)
	if err != nil {
		c.t.Errorf("whoami: %v", err)
	}
	return string(id)
}

func (c *client) url() *url.URL {
	u, _ := url.Parse(c.a.srv.URL)
	return u
}

// token returns the session token the jar holds ("" for none).
func (c *client) token() store.Token {
	for _, ck := range c.jar.Cookies(c.url()) {
		if ck.Name == c.a.mgr.CookieName() {
			return store.Token(ck.Value)
		}
	}
	return ""
}

// setToken puts a session cookie into the jar, as a stolen or planted one.
func (c *client) setToken(v string) {
	c.jar.SetCookies(c.url(), []*http.Cookie{{Name: c.a.mgr.CookieName(), Value: v, Path: "/"}})
}

// withToken returns a fresh client that holds the token tok.
func (a *app) withToken(tok store.Token) *client {
	c := a.client()
	c.setToken(tok.String())
	return c
}
