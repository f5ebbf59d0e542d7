package platform_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

func init() { gin.SetMode(gin.TestMode) }

// connections is the application's own table of platform connections, in
// a real SQLite database, and the Loader the application writes over it.
type connections struct {
	db    *sql.DB
	calls atomic.Int64
}

func newConnections(t testing.TB) *connections {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_busy_timeout=5000")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE platform_connections (
		id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
		INSERT INTO platform_connections (id, user_id, name, type) VALUES
		(1, '1', 'mastodon-main', 'mastodon'), (2, '1', 'pixelfed-photos', 'pixelfed'), (3, '2', 'bob-mastodon', 'mastodon')`)
	require.NoError(t, err)
	return &connections{db: db}
}

// load is the application's Loader.
func (cs *connections) load(ctx context.Context, userID string, id int64) (*platform.Context, error) {
	cs.calls.Add(1)
	pc := &platform.Context{}
	err := cs.db.QueryRowContext(ctx,
		`SELECT id, name, type FROM platform_connections WHERE id = ? AND user_id = ? AND active = 1`, id, userID).
		Scan(&pc.ConnectionID, &pc.Name, &pc.Type)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return pc, nil
}

func (cs *connections) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	_, err := cs.db.Exec(q, args...)
	require.NoError(t, err)
}

// countingStore wraps the real store to count calls.
type countingStore struct {
	store.Store
	gets, puts atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (*store.Entry, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	c.puts.Add(1)
	return c.Store.Put(ctx, e, prev)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type events struct {
	mu   sync.Mutex
	list []ginsession.Event
}

func (e *events) add(ev ginsession.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

// switched returns the details of the platform_switched events so far.
func (e *events) switched() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []string{}
	for _, ev := range e.list {
		if ev.Kind == ginsession.EventPlatformSwitched {
			out = append(out, ev.Detail)
		}
	}
	return out
}

type app struct {
	t      testing.TB
	srv    *httptest.Server
	conns  *connections
	store  *countingStore
	pm     *platform.Manager
	clock  *clock
	events *events
	mgr    *ginsession.Manager
}

// newApp serves a real HTTP app: sessions on SQLite, the platform
// middleware over the application's connections table.
func newApp(t testing.TB, opts platform.Options) *app {
	t.Helper()
	return newAppLoader(t, nil, opts)
}

// newAppLoader is newApp with another loader (nil: the connections table's).
func newAppLoader(t testing.TB, loader platform.Loader, opts platform.Options) *app {
	t.Helper()
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), dbstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	kr, err := store.ParseKeyring(store.GenerateKey())
	require.NoError(t, err)
	a := &app{t: t, conns: newConnections(t), store: &countingStore{Store: st},
		clock: &clock{now: time.Now()}, events: &events{}}
	a.mgr, err = ginsession.NewManager(ginsession.Config{Store: a.store, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true},
		OnEvent: []ginsession.EventHandler{a.events.add}})
	require.NoError(t, err)
	if opts.Now == nil {
		opts.Now = a.clock.Now
	}
	if loader == nil {
		loader = a.conns.load
	}
	a.pm, err = platform.New(loader, opts)
	require.NoError(t, err)

	r := gin.New()
	r.Use(a.mgr.Middleware(), a.pm.Middleware())
	routes(r)
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

// routes are the test application's handlers.
func routes(r *gin.Engine) {
	r.GET("/untouched", func(c *gin.Context) { c.String(200, "ok") })
	r.POST("/login/:id", func(c *gin.Context) {
		if err := ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")}); err != nil {
			c.JSON(500, gin.H{"error": err.Error()})
			return
		}
		c.JSON(200, gin.H{})
	})
	r.POST("/logout", func(c *gin.Context) {
		_ = ginsession.Current(c).Logout()
		c.JSON(200, gin.H{})
	})
	r.GET("/platform", platform.Require(), func(c *gin.Context) {
		c.JSON(200, c.MustGet(platform.Key).(*platform.Context))
	})
	r.POST("/platform/:id", func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			c.JSON(400, gin.H{"error": "bad id"})
			return
		}
		pc, err := platform.Switch(c, id)
		switch {
		case errors.Is(err, platform.ErrNotLoggedIn):
			c.JSON(401, gin.H{"error": "not logged in"})
		case errors.Is(err, platform.ErrForbidden):
			c.JSON(403, gin.H{"error": "not your connection"})
		case err != nil:
			c.JSON(503, gin.H{"error": "unavailable"})
		default:
			c.JSON(200, pc)
		}
	})
	r.DELETE("/platform", func(c *gin.Context) {
		if err := platform.Clear(c); err != nil {
			c.JSON(401, gin.H{"error": err.Error()})
			return
		}
		c.Status(204)
	})
	// plant writes any value under the platform's session key, as a
	// careless "preferences" endpoint of the application might.
	r.POST("/plant", func(c *gin.Context) {
		var v any = c.Query("v")
		if id, err := strconv.ParseInt(c.Query("id"), 10, 64); err == nil {
			v = platform.Context{ConnectionID: id, Name: "forged", Type: "forged"}
		}
		_ = ginsession.Current(c).Set(platform.SessionKey, v)
		c.Status(204)
	})
}

type client struct {
	t  testing.TB
	a  *app
	hc *http.Client
}

func (a *app) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, a: a, hc: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.a.srv.URL+path, nil)
	require.NoError(c.t, err)
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// platform GETs /platform and decodes the answer.
func (c *client) platform() (int, platform.Context) {
	c.t.Helper()
	code, body := c.do("GET", "/platform")
	var pc platform.Context
	if code == 200 {
		require.NoError(c.t, json.Unmarshal([]byte(body), &pc), body)
	}
	return code, pc
}

func (c *client) login(id string) {
	c.t.Helper()
	code, body := c.do("POST", "/login/"+id)
	require.Equal(c.t, 200, code, body)
}
