package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// Attacks on the reference app itself, through its real routes.

// storedCounts counts the stored sessions (SQL rows, and Redis keys under
// the app's prefix when Redis is configured) and the audit rows.
func storedCounts(t *testing.T, e *env) (sqlRows, redisKeys, auditRows int) {
	t.Helper()
	e.flushAudit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.app.cfg.Storage != modeRedis {
		if err := e.app.sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&sqlRows); err != nil {
			t.Fatalf("count sessions: %v", err)
		}
	}
	if e.app.redis != nil {
		prefix, _ := e.app.cfg.lookup("REDIS_SESSION_PREFIX")
		iter := e.app.redis.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			redisKeys++
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("scan: %v", err)
		}
	}
	if err := e.app.sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM session_audit`).Scan(&auditRows); err != nil {
		t.Fatalf("count audit rows: %v", err)
	}
	return
}

// anonymousRequests are one of each kind of request an anonymous visitor
// (or a flood of them) can send for free.
func anonymousRequests(base, visitorCookie, visitorToken string) []func() *http.Request {
	unknown := "session=" + store.NewToken().String()
	json := func(method, path, body string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			return req
		}
	}
	return []func() *http.Request{
		json("GET", "/", ""),
		json("GET", "/api/session", ""),
		json("GET", "/api/state", ""),
		json("GET", "/api/events", ""),
		json("GET", "/api/platform", ""),
		json("GET", "/api/prefs", ""),
		json("GET", "/", "", "Cookie", "__Host-session=%%%; session=not-a-token"),
		json("GET", "/api/session", "", "Cookie", unknown+"; __Host-"+unknown),
		json("GET", "/api/state", "", "Cookie", "__Host-"+unknown),
		json("POST", "/api/login", `{"username":"alice","password":"wrong"}`, "Cookie", visitorCookie, "X-CSRF-Token", visitorToken),
		json("POST", "/api/login", `{"username":"alice","password":"alice"}`), // no CSRF token
		json("POST", "/api/logout", "", "Cookie", visitorCookie, "X-CSRF-Token", visitorToken),
		json("PUT", "/api/prefs/x", `1`, "Cookie", "__Host-"+unknown, "X-CSRF-Token", visitorToken),
	}
}

// TestAnonymousCostsNothing: 10,000 anonymous requests of every kind leave
// no stored session and no audit row. (Before visitor tokens, each
// cookieless GET / stored a session and wrote an audit row, and each
// refused cookie wrote an audit row.)
func TestAnonymousCostsNothing(t *testing.T) {
	const total = 10_000
	forEachBackend(t, func(t *testing.T, e *env) {
		sql0, redis0, audit0 := storedCounts(t, e)
		v := e.client(t, "flood/1")
		v.state()
		u, _ := http.NewRequest("GET", e.base, nil)
		var ck string
		for _, c := range v.hc.Jar.Cookies(u.URL) {
			ck = c.Name + "=" + c.Value
		}
		reqs := anonymousRequests(e.base, ck, v.csrf)
		hc := &http.Client{Timeout: 10 * time.Second}
		statuses := map[string]map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan int)
		t0 := time.Now()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					req := reqs[i%len(reqs)]()
					res, err := hc.Do(req)
					if err != nil {
						t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					key := req.Method + " " + req.URL.Path
					mu.Lock()
					if statuses[key] == nil {
						statuses[key] = map[int]int{}
					}
					statuses[key][res.StatusCode]++
					mu.Unlock()
				}
			}()
		}
		for i := range total {
			next <- i
		}
		close(next)
		wg.Wait()
		sql1, redis1, audit1 := storedCounts(t, e)
		t.Logf("%d anonymous requests in %v: stored sessions SQL %d→%d, Redis keys %d→%d, audit rows %d→%d; answers %v",
			total, time.Since(t0).Round(time.Millisecond), sql0, sql1, redis0, redis1, audit0, audit1, statuses)
		for key, by := range statuses {
			for code := range by {
				if code >= 500 {
					t.Errorf("%s answered %d", key, code)
				}
			}
		}
		if sql1 != sql0 || redis1 != redis0 || audit1 != audit0 {
			t.Errorf("anonymous requests stored something: sessions SQL +%d, Redis keys +%d, audit rows +%d",
				sql1-sql0, redis1-redis0, audit1-audit0)
		}
	})
}

// serveWithTimeouts serves the app's public handler on a new listener with
// the example's server settings, read and write timeouts as given, and
// returns its address.
func serveWithTimeouts(t *testing.T, e *env, read, write time.Duration) string {
	t.Helper()
	cfg := e.app.cfg
	cfg.ReadTimeout, cfg.WriteTimeout = read, write
	srv := newServer(e.app.Handler(), cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestSlowBody: a login whose body never arrives (Content-Length 100000,
// one byte sent) is cut off by the server's read timeout, not held open.
func TestSlowBody(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	v := e.client(t, "")
	v.state()
	const timeout = time.Second
	addr := serveWithTimeouts(t, e, timeout, 5*time.Second)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	t0 := time.Now()
	fmt.Fprintf(conn, "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-CSRF-Token: %s\r\nContent-Length: 100000\r\n\r\n{", addr, v.csrf)
	_, _ = io.Copy(io.Discard, conn) // until the server answers and closes, or drops the connection
	took := time.Since(t0)
	t.Logf("slow body: connection ended after %v (read timeout %v)", took.Round(time.Millisecond), timeout)
	if took > timeout+2*time.Second {
		t.Errorf("slow body held the connection %v; read timeout is %v", took, timeout)
	}
	if newServer(nil, e.app.cfg).ReadTimeout != readTimeout || readTimeout <= 0 || writeTimeout <= 0 {
		t.Error("the example's servers must set ReadTimeout and WriteTimeout")
	}
}

// TestStreamOutlivesServerTimeouts: the event stream lifts the server's
// read and write deadlines for itself, so it outlives both.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	vars := backends[0].env(t)
	e := startAppWith(t, vars, func(c *appConfig) { c.streamHeartbeat = 100 * time.Millisecond })
	c := e.client(t, "")
	c.login("alice")
	addr := serveWithTimeouts(t, e, 500*time.Millisecond, 500*time.Millisecond)
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/events", nil)
	req.Header.Set("Cookie", e.app.sessions.CookieName()+"="+c.cookie())
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, res)
	}
	defer res.Body.Close()
	t0 := time.Now()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if time.Since(t0) > 2*time.Second {
			return // four times both timeouts, still streaming
		}
	}
	t.Fatalf("the stream ended after %v (server timeouts 500 ms): %v", time.Since(t0), sc.Err())
}

// TestSecretsNotShown: a password in REDIS_URL or DATABASE_URL, in user
// info or a password-like query key (the Sentinel form), is in neither the
// start log nor any page; storage details are shown to admins only.
func TestSecretsNotShown(t *testing.T) {
	const secret = "S3cr3tPW"
	pg := testserver.Postgres(t)
	cases := []struct{ name, redisURL, dbURL string }{
		{"redis user info", "redis://app:" + secret + "@127.0.0.1:1/0", ""},
		{"redis query password", "redis://127.0.0.1:1/0?password=" + secret, ""},
		{"sentinel", "redis+sentinel://127.0.0.1:1?master_name=m&password=" + secret, ""},
		{"postgres query password", "", strings.Replace(pg, "?", "?password="+secret+"&", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envAdminAddr: "127.0.0.1:0"}
			if tc.redisURL != "" {
				vars[envRedisURL] = tc.redisURL
			}
			if tc.dbURL != "" {
				vars[envDatabaseURL] = tc.dbURL
			}
			var out lockedBuffer
			logger := slog.New(slog.NewTextHandler(&out, nil))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, mapLookup(vars), logger, &out) }()
			defer func() {
				cancel()
				<-done
			}()
			var base string
			for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
				if m := regexp.MustCompile(`open (http://[0-9.:]+)/`).FindStringSubmatch(out.String()); m != nil {
					base = m[1]
				}
				select {
				case err := <-done:
					done <- err
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("start error shows the secret: %v", err)
					}
					t.Logf("did not start (%v): the error hides the secret", err)
					return
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("not listening:\n%s", out.String())
				}
			}
			for _, user := range []string{"", "bob", "alice"} {
				e := &env{base: base}
				c := e.client(t, "")
				page := string(c.get("/").body)
				if user != "" {
					c.state()
					if r := c.do("POST", "/api/login", map[string]string{"username": user, "password": user}, csrfValid); r.status != 200 {
						t.Fatalf("login %s: %d %s", user, r.status, r.body)
					}
					page = string(c.get("/").body)
				}
				if strings.Contains(page, secret) {
					t.Errorf("page of %q shows the secret", user)
				}
				if shows := strings.Contains(page, "redis://") || strings.Contains(page, "SQLite file"); shows != (user == "alice") {
					t.Errorf("page of %q: storage details shown %v; want them for the admin only", user, shows)
				}
			}
			if strings.Contains(out.String(), secret) {
				t.Errorf("start log shows the secret:\n%s", out.String())
			}
		})
	}
}

// TestMethodTricksAgainstCSRF: no method override, HEAD or OPTIONS runs an
// unsafe route, and none of them changes the session.
func TestMethodTricksAgainstCSRF(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	c := e.client(t, "")
	c.login("alice")
	for _, tc := range []struct{ method, path, header string }{
		{"GET", "/api/logout", "X-HTTP-Method-Override"},
		{"GET", "/api/logout?_method=POST", ""},
		{"HEAD", "/api/logout", ""},
		{"OPTIONS", "/api/logout", ""},
		{"GET", "/api/logout-all", "X-Method-Override"},
		{"HEAD", "/api/prefs/x", "X-HTTP-Method"},
		{"OPTIONS", "/api/sessions/x", ""},
		{"GET", "/api/platform?_method=POST&platform_connection_id=2", ""},
		{"TRACE", "/api/logout", ""},
		{"PATCH", "/api/prefs/x", ""},
	} {
		req, _ := http.NewRequest(tc.method, e.base+tc.path, strings.NewReader(`{"platform_connection_id":2}`))
		if tc.header != "" {
			req.Header.Set(tc.header, "POST")
		}
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 300 && tc.method != "GET" {
			t.Errorf("%s %s answered %d", tc.method, tc.path, res.StatusCode)
		}
	}
	s := c.state()
	if !s.Authenticated || s.Platform != nil {
		t.Errorf("the session changed: %+v", s)
	}
	if r := c.get("/api/prefs/x"); r.status != 404 {
		t.Errorf("a pref was set: %d", r.status)
	}
}

// exampleClock is a settable clock for the app's sessions.
type exampleClock struct {
	mu  sync.Mutex
	now time.Time
}

func (k *exampleClock) Now() time.Time { k.mu.Lock(); defer k.mu.Unlock(); return k.now }
func (k *exampleClock) Advance(d time.Duration) {
	k.mu.Lock()
	k.now = k.now.Add(d)
	k.mu.Unlock()
}

// rotatingApp is the app with periodic rotation (every hour, 30 s grace)
// on clk.
func rotatingApp(t *testing.T, clk *exampleClock) *env {
	return startAppWith(t, backends[0].env(t), func(c *appConfig) {
		c.Session.RotateEvery = time.Hour
		c.Session.RotateGrace = 30 * time.Second
		c.Session.IdleTimeout = 2 * time.Hour
		c.Session.AbsoluteTimeout = 24 * time.Hour
		c.Session.Now = clk.Now
	})
}

// TestRotationGraceCannotBeAbused: during a periodic rotation's grace
// window the old token still leads to the session, so a logout-all and a
// login through it must act on the session it leads to, and leave no
// token alive.
func TestRotationGraceCannotBeAbused(t *testing.T) {
	for _, action := range []string{"logout-all", "login"} {
		t.Run(action, func(t *testing.T) {
			clk := &exampleClock{now: time.Now()}
			e := rotatingApp(t, clk)
			c := e.client(t, "")
			c.login("alice")
			old := c.cookie()
			clk.Advance(time.Hour + time.Second)
			c.state() // rotates: the jar takes the new token
			rotated := c.cookie()
			if rotated == old {
				t.Fatal("no rotation")
			}
			thief := e.client(t, "")
			thief.setCookie(old) // the old token, within the grace window
			thief.state()
			switch action {
			case "logout-all":
				if r := thief.do("POST", "/api/logout-all", nil, csrfValid); r.status != 200 {
					t.Fatalf("logout-all through the old token: %d %s", r.status, r.body)
				}
			case "login":
				thief.login("bob")
			}
			for name, tok := range map[string]string{"old": old, "rotated": rotated} {
				probe := e.client(t, "")
				probe.setCookie(tok)
				if s := probe.state(); s.Authenticated && s.User.Username == "alice" {
					t.Errorf("%s token still alice's after %s through the old token", name, action)
				}
			}
			if action == "login" {
				if s := thief.state(); !s.Authenticated || s.User.Username != "bob" {
					t.Errorf("login through the old token: %+v", s)
				}
			}
		})
	}
}

// TestAbsoluteDeadlineAcrossRotations: rotation after rotation never
// extends a session past its absolute deadline.
func TestAbsoluteDeadlineAcrossRotations(t *testing.T) {
	clk := &exampleClock{now: time.Now()}
	e := rotatingApp(t, clk)
	c := e.client(t, "")
	c.login("alice")
	seen := map[string]bool{c.cookie(): true}
	for h := 1; h < 24; h++ {
		clk.Advance(time.Hour)
		if s := c.state(); !s.Authenticated {
			t.Fatalf("logged out after %d h", h)
		}
		seen[c.cookie()] = true
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct tokens in 23 hourly rotations", len(seen))
	}
	clk.Advance(time.Hour + time.Second)
	if s := c.state(); s.Authenticated {
		t.Errorf("still logged in 24 h after login, through %d rotations", len(seen))
	}
}

// TestRoutesRefuseAnonymous: the user routes answer 401 to an anonymous
// visitor, an admin-only filter 403 to a user.
func TestRoutesRefuseAnonymous(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	anon := e.client(t, "")
	for _, p := range []string{"/api/platform", "/api/sessions", "/api/audit", "/api/events"} {
		if r := anon.get(p); r.status != 401 {
			t.Errorf("anonymous %s: %d %s", p, r.status, r.body)
		}
	}
	bob := e.client(t, "")
	bob.login("bob")
	if r := bob.get("/api/audit?user_id=1"); r.status != 403 {
		t.Errorf("bob reads alice's audit trail: %d", r.status)
	}
}

// TestStreamsShareOneRedisConnection: in hybrid mode, 40 event streams add
// at most 2 Redis connections (one shared subscription), and the cap per
// session answers 429.
func TestStreamsShareOneRedisConnection(t *testing.T) {
	e := startApp(t, backends[1].env(t))
	clients := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		list, err := e.app.redis.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n")
	}
	a1, a2, b := e.client(t, ""), e.client(t, ""), e.client(t, "")
	a1.login("alice")
	a2.login("alice")
	b.login("bob")
	before := clients()
	n := 0
	for _, c := range []*client{a1, a2} {
		for range 16 {
			c.stream(t)
			n++
		}
	}
	for range 8 {
		b.stream(t)
		n++
	}
	after := clients()
	t.Logf("%d streams: Redis clients %d → %d", n, before, after)
	if after-before > 2 {
		t.Errorf("%d streams took %d Redis connections", n, after-before)
	}
	if r := a1.get("/api/events"); r.status != 429 {
		t.Errorf("stream 17 of one session: %d, want 429", r.status)
	}
}
