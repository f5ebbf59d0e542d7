package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	sessredis "github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/contrib/migrate"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

const oldName = "legacy"

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef") // the old app's securecookie keys
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// oldOptions are the old app's cookie settings: plain HTTP in tests.
var oldOptions = sessions.Options{Path: "/", MaxAge: 3600, HttpOnly: true}

// oldRedisStore is gin-contrib/sessions' Redis store on addr, its keys under
// prefix (boj/redistore's default prefix is "session_").
func oldRedisStore(t *testing.T, addr, prefix string) sessions.Store {
	t.Helper()
	o := testserver.RedisOptions(t)
	st, err := sessredis.NewStoreWithDB(4, "tcp", addr, o.Username, o.Password, strconv.Itoa(o.DB), hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := sessredis.SetKeyPrefix(st, prefix+"session_"); err != nil {
		t.Fatal(err)
	}
	st.Options(oldOptions)
	t.Cleanup(func() {
		if rs, err := sessredis.GetRedisStore(st); err == nil {
			_ = rs.Close()
		}
	})
	return st
}

func oldCookieStore() sessions.Store {
	st := cookie.NewStore(hashKey, blockKey)
	st.Options(oldOptions)
	return st
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// counting is a real store that counts reads, so a test can prove that a
// request made none.
type counting struct {
	store.Store
	reads atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (*store.Entry, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, key)
}

type world struct {
	t      *testing.T
	store  *counting
	srv    *httptest.Server
	mgr    *ginsession.Manager
	log    *syncBuffer
	mu     sync.Mutex
	events []ginsession.Event
}

func (w *world) count(kind ginsession.EventKind) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// newWorld serves, on one real HTTP server, the old app under /old
// (gin-contrib/sessions with oldStore) and the new app under /new
// (ginsession on SQLite, then the importer).
func newWorld(t *testing.T, oldStore sessions.Store, tweak func(*ginsession.Config, *migrate.Options)) *world {
	t.Helper()
	w := &world{t: t, log: &syncBuffer{}}
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	w.store = &counting{Store: st}
	cfg := ginsession.Config{
		Store: w.store, Keyring: kr, InsecureCookie: true,
		Logger: slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: []ginsession.EventHandler{func(e ginsession.Event) {
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
		}},
	}
	mopts := migrate.Options{OldStore: oldStore, OldName: oldName}
	if tweak != nil {
		tweak(&cfg, &mopts)
	}
	w.mgr, err = ginsession.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := migrate.NewImporter(mopts)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	old := r.Group("/old", sessions.Sessions(mopts.OldName, oldStore))
	old.GET("/login", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user_id", 42)
		s.Set("username", "alice")
		s.Set("role", "admin")
		s.Set(7, "an int key")            // not a string key: skipped
		s.Set("ratio", complex(1, 2))     // gob takes it, msgpack does not: skipped
		s.Set("platforms", []any{1, "x"}) // nested values survive
		if err := s.Save(); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "old login")
	})
	nw := r.Group("/new", w.mgr.Middleware(), imp)
	nw.GET("/untouched", func(c *gin.Context) { c.String(200, "ok") })
	nw.GET("/me", func(c *gin.Context) {
		s := ginsession.Current(c)
		keys, err := s.Keys()
		if err != nil {
			c.String(500, err.Error())
			return
		}
		u, _ := ginsession.CurrentUser(c)
		c.JSON(200, gin.H{
			"user_id":  ginsession.GetOr(s, "user_id", 0),
			"username": ginsession.GetOr(s, "username", ""),
			"platform": ginsession.GetOr[[]any](s, "platforms", nil),
			"login":    u.ID,
			"keys":     len(keys),
		})
	})
	w.srv = httptest.NewServer(r)
	t.Cleanup(w.srv.Close)
	return w
}

type me struct {
	UserID   int    `json:"user_id"`
	Username string `json:"username"`
	Platform []any  `json:"platform"`
	Login    string `json:"login"`
	Keys     int    `json:"keys"`
}

type browser struct {
	t   *testing.T
	w   *world
	jar *cookiejar.Jar
	hc  *http.Client
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: w.t, w: w, jar: jar, hc: &http.Client{Jar: jar}}
}

// get requests path; extra cookies are sent besides the jar's. It fails on
// anything but a 200.
func (b *browser) get(path string, extra ...*http.Cookie) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.w.srv.URL+path, nil)
	for _, ck := range extra {
		req.AddCookie(ck)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return resp, string(body)
}

func (b *browser) me(extra ...*http.Cookie) (me, *http.Response) {
	b.t.Helper()
	resp, body := b.get("/new/me", extra...)
	var m me
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		b.t.Fatalf("%q: %v", body, err)
	}
	return m, resp
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.w.srv.URL)
	for _, ck := range b.jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// setCookie returns the response's Set-Cookie for name, if any.
func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// TestImport logs in on the old app (gin-contrib/sessions, real Redis or
// cookie store), then visits the new app with the same browser: still
// logged in, the old session deleted and its cookie expired, and no second
// import.
func TestImport(t *testing.T) {
	rdb := testserver.RedisClient(t)
	prefix := testserver.Prefix(t)
	oldKeys := func() []string {
		keys, err := rdb.Keys(context.Background(), prefix+"session_*").Result() // the test's own prefix
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	tests := []struct {
		name      string
		store     sessions.Store
		redisKeys bool // the old store keeps sessions in Redis
	}{
		{"redis store", oldRedisStore(t, testserver.Redis(t), prefix), true},
		{"cookie store", oldCookieStore(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.store, nil)
			w.browser().get("/new/untouched")
			if n := w.store.reads.Load(); n != 0 {
				t.Fatalf("%d store reads for a request without any cookie", n)
			}
			b := w.browser()
			b.get("/old/login")
			oldCk := b.cookie(oldName)
			if oldCk == nil {
				t.Fatal("the old app set no cookie")
			}
			if tt.redisKeys && len(oldKeys()) != 1 {
				t.Fatalf("old Redis keys %v, want 1", oldKeys())
			}

			got, resp := b.me()
			want := me{UserID: 42, Username: "alice", Platform: []any{1.0, "x"}, Keys: 4}
			if got.UserID != want.UserID || got.Username != want.Username || len(got.Platform) != 2 || got.Keys != want.Keys {
				t.Fatalf("after import: %+v, want %+v", got, want)
			}
			if ck := setCookie(resp, oldName); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("old cookie not expired: %v", ck)
			}
			if setCookie(resp, w.mgr.CookieName()) == nil {
				t.Error("no cookie for the new session")
			}
			if b.cookie(oldName) != nil {
				t.Error("the browser still holds the old cookie")
			}
			if tt.redisKeys && len(oldKeys()) != 0 {
				t.Errorf("old Redis keys after import: %v", oldKeys())
			}
			if n := w.count(migrate.EventImported); n != 1 {
				t.Errorf("%d imported events, want 1", n)
			}
			if n := w.count(ginsession.EventCreated); n != 1 {
				t.Errorf("%d created events, want 1", n)
			}
			logs := w.log.String()
			for _, want := range []string{`key=ratio value_type=complex128`, `key_type=int`} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
			if strings.Contains(logs, "an int key") || strings.Contains(logs, "(1+2i)") {
				t.Errorf("log shows old values:\n%s", logs)
			}

			// The next request is served from the new session alone.
			again, resp := b.me()
			if again.UserID != 42 || again.Username != "alice" || setCookie(resp, oldName) != nil {
				t.Errorf("second request: %+v, old Set-Cookie %v", again, setCookie(resp, oldName))
			}
			// Even with the old cookie sent again, a stored session of ours wins.
			again, _ = b.me(oldCk)
			if again.UserID != 42 || w.count(migrate.EventImported) != 1 || w.count(ginsession.EventCreated) != 1 {
				t.Errorf("replayed old cookie: %+v, %d imports, %d creations", again, w.count(migrate.EventImported), w.count(ginsession.EventCreated))
			}
			if tt.redisKeys {
				// A fresh browser with the old cookie finds nothing left to import.
				fresh, resp := w.browser().me(oldCk)
				if fresh.UserID != 0 || w.count(migrate.EventImported) != 1 {
					t.Errorf("old cookie in a fresh browser: %+v, %d imports", fresh, w.count(migrate.EventImported))
				}
				if ck := setCookie(resp, oldName); ck == nil || ck.MaxAge >= 0 {
					t.Errorf("dead old cookie not expired: %v", ck)
				}
			}
		})
	}
}

// TestImportWithLogin maps the old user id to a ginsession login.
func TestImportWithLogin(t *testing.T) {
	st := oldRedisStore(t, testserver.Redis(t), testserver.Prefix(t))
	w := newWorld(t, st, func(_ *ginsession.Config, o *migrate.Options) {
		o.Map = func(c *gin.Context, old map[any]any, s *ginsession.Session) error {
			if err := migrate.CopyValues(c, old, s); err != nil {
				return err
			}
			id, ok := old["user_id"].(int)
			if !ok {
				return nil
			}
			name, _ := old["username"].(string)
			return s.Login(ginsession.User{ID: strconv.Itoa(id), Username: name})
		}
	})
	b := w.browser()
	b.get("/old/login")
	got, _ := b.me()
	if got.Login != "42" || got.UserID != 42 {
		t.Fatalf("after import: %+v, want logged in as 42", got)
	}
	if w.count(ginsession.EventLogin) != 1 || w.count(migrate.EventImported) != 1 {
		t.Errorf("%d logins, %d imports", w.count(ginsession.EventLogin), w.count(migrate.EventImported))
	}
	if got, _ := b.me(); got.Login != "42" {
		t.Errorf("second request: %+v", got)
	}
}

// TestSharedCookieName: the new library took over the old cookie name. The
// import must not expire the new cookie it has just set, and later requests
// must keep the new session.
func TestSharedCookieName(t *testing.T) {
	rdb := testserver.RedisClient(t)
	prefix := testserver.Prefix(t)
	st := oldRedisStore(t, testserver.Redis(t), prefix)
	w := newWorld(t, st, func(c *ginsession.Config, _ *migrate.Options) {
		c.CookieName, c.DisableHostPrefix = oldName, true
	})
	b := w.browser()
	b.get("/old/login")
	got, resp := b.me()
	if got.UserID != 42 {
		t.Fatalf("after import: %+v", got)
	}
	var names []string
	for _, ck := range resp.Cookies() {
		names = append(names, ck.Name+"/"+strconv.Itoa(ck.MaxAge))
	}
	if len(names) != 1 || names[0] != oldName+"/0" {
		t.Errorf("Set-Cookie: %v, want only the new session's", names)
	}
	if ck := b.cookie(oldName); ck == nil || len(ck.Value) != store.TokenLen {
		t.Fatalf("browser cookie %v, want the new token", ck)
	}
	if got, _ := b.me(); got.UserID != 42 || w.count(migrate.EventImported) != 1 {
		t.Errorf("second request: %+v, %d imports", got, w.count(migrate.EventImported))
	}
	// The cookie under the shared name is now ours: the importer leaves it
	// alone, and a request that never touches the session reads nothing.
	before := w.store.reads.Load()
	b.get("/new/untouched")
	if n := w.store.reads.Load() - before; n != 0 {
		t.Errorf("%d store reads for a request that never touched the session", n)
	}
	if keys, _ := rdb.Keys(context.Background(), prefix+"session_*").Result(); len(keys) != 0 {
		t.Errorf("old Redis keys after import: %v", keys)
	}
}

// TestBadOldCookies sends old cookies that do not decode: the request is
// served with a fresh session, nothing is imported, and the bad cookie is
// expired.
func TestBadOldCookies(t *testing.T) {
	rdb := testserver.RedisClient(t)
	prefix := testserver.Prefix(t)
	redisStore := oldRedisStore(t, testserver.Redis(t), prefix)
	flip := func(v string) string {
		i := len(v) / 2
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		return v[:i] + string(c) + v[i+1:]
	}
	tests := []struct {
		name  string
		store sessions.Store
		value func(valid string) string
	}{
		{"tampered redis-store cookie", redisStore, flip},
		{"tampered cookie-store cookie", oldCookieStore(), flip},
		{"cookie of another app's keys", oldCookieStore(), func(string) string {
			other := cookie.NewStore([]byte("another-hash-key-another-hash-ke"))
			w := httptest.NewRecorder()
			s, _ := other.New(httptest.NewRequest("GET", "/", nil), oldName)
			s.Values["user_id"] = 1
			_ = other.Save(httptest.NewRequest("GET", "/", nil), w, s)
			return w.Result().Cookies()[0].Value
		}},
		{"garbage", redisStore, func(string) string { return "%%%not-base64" }},
		{"huge", redisStore, func(string) string { return strings.Repeat("A", 3900) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.store, nil)
			b := w.browser()
			b.get("/old/login")
			valid := b.cookie(oldName).Value
			keysBefore, _ := rdb.Keys(context.Background(), prefix+"session_*").Result()

			fresh := w.browser()
			got, resp := fresh.me(&http.Cookie{Name: oldName, Value: tt.value(valid)})
			if got.UserID != 0 || got.Keys != 0 || w.count(migrate.EventImported) != 0 {
				t.Errorf("bad cookie imported: %+v, %d imports", got, w.count(migrate.EventImported))
			}
			if ck := setCookie(resp, oldName); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("bad old cookie not expired: %v", ck)
			}
			keysAfter, _ := rdb.Keys(context.Background(), prefix+"session_*").Result()
			if len(keysAfter) != len(keysBefore) {
				t.Errorf("old Redis keys %v, before %v: a bad cookie deleted something", keysAfter, keysBefore)
			}
		})
	}
}

// TestOldRedisDown: the old store cannot be reached. The request is served,
// nothing is imported, and the old cookie is kept for a later request.
func TestOldRedisDown(t *testing.T) {
	rp := testserver.StartRedis(t)
	st := oldRedisStore(t, rp.Addr, testserver.Prefix(t))
	w := newWorld(t, st, nil)
	b := w.browser()
	b.get("/old/login")
	rp.Kill(9)
	got, resp := b.me()
	if got.UserID != 0 || w.count(migrate.EventImported) != 0 {
		t.Errorf("imported from a dead store: %+v", got)
	}
	if setCookie(resp, oldName) != nil || b.cookie(oldName) == nil {
		t.Error("the old cookie was dropped while its store was down")
	}
	if !strings.Contains(w.log.String(), "old session unreadable") {
		t.Errorf("no log of the failure:\n%s", w.log.String())
	}
}

func TestNewImporterRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts migrate.Options
		want string
	}{
		{"no store", migrate.Options{OldName: "s"}, "OldStore"},
		{"no name", migrate.Options{OldStore: oldCookieStore()}, "OldName"},
		{"bad name", migrate.Options{OldStore: oldCookieStore(), OldName: "a b"}, "OldName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := migrate.NewImporter(tt.opts)
			if err == nil || h != nil || !strings.HasPrefix(err.Error(), "migrate: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewImporter = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
