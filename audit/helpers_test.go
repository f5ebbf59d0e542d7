package audit_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

// backend opens a database for the audit table.
type backend struct {
	name string
	open func(t testing.TB) *sql.DB
}

var backends = []backend{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
	{"mysql", openMySQL},
}

func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "audit.db") +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testserver.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openMySQL(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", testserver.MySQLDSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// eachBackend runs f as a subtest per database.
func eachBackend(t *testing.T, f func(t *testing.T, open func(testing.TB) *sql.DB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open) })
	}
}

func newWriter(t testing.TB, db *sql.DB, opts audit.Options) *audit.Writer {
	t.Helper()
	w, err := audit.New(context.Background(), db, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func flush(t testing.TB, w *audit.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.Flush(ctx))
}

// app is a real HTTP app: sessions on SQLite, the platform middleware,
// and the audit writer consuming the session events.
type app struct {
	t   testing.TB
	srv *httptest.Server
	mgr *ginsession.Manager
}

func newApp(t testing.TB, w *audit.Writer) *app {
	t.Helper()
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), dbstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	kr, err := store.ParseKeyring(store.GenerateKey())
	require.NoError(t, err)
	mgr, err := ginsession.NewManager(ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true},
		OnEvent: []ginsession.EventHandler{w.Handle}})
	require.NoError(t, err)
	loader := func(_ context.Context, userID string, id int64) (*platform.Context, error) {
		if userID == "1" && (id == 1 || id == 2) {
			return &platform.Context{ConnectionID: id, Name: "conn-" + strconv.FormatInt(id, 10), Type: "mastodon"}, nil
		}
		return nil, platform.ErrNotFound
	}
	r := gin.New()
	r.Use(mgr.Middleware(), platform.Middleware(loader))
	r.POST("/login/:id", func(c *gin.Context) {
		if err := ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")}); err != nil {
			c.JSON(500, gin.H{"error": err.Error()})
			return
		}
		c.JSON(200, gin.H{})
	})
	r.POST("/platform/:id", func(c *gin.Context) {
		id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
		if _, err := platform.Switch(c, id); err != nil {
			c.JSON(403, gin.H{"error": "no"})
			return
		}
		c.JSON(200, gin.H{})
	})
	r.POST("/rotate", func(c *gin.Context) {
		if err := ginsession.Current(c).Rotate("rotate"); err != nil {
			c.JSON(500, gin.H{"error": err.Error()})
			return
		}
		c.JSON(200, gin.H{})
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := ginsession.Current(c).Logout(); err != nil {
			c.JSON(500, gin.H{"error": err.Error()})
			return
		}
		c.JSON(200, gin.H{})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &app{t: t, srv: srv, mgr: mgr}
}

// client keeps cookies and remembers every session token it was given.
type client struct {
	t      testing.TB
	a      *app
	hc     *http.Client
	jar    *cookiejar.Jar
	mu     sync.Mutex
	tokens map[string]bool
	ua     string
}

func (a *app) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: a.t, a: a, hc: &http.Client{Jar: jar}, jar: jar, tokens: map[string]bool{}}
}

func (c *client) do(method, path string) (int, time.Duration) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.a.srv.URL+path, nil)
	require.NoError(c.t, err)
	if c.ua != "" {
		req.Header["User-Agent"] = []string{c.ua}
	}
	t0 := time.Now()
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	d := time.Since(t0)
	u, _ := url.Parse(c.a.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		c.mu.Lock()
		c.tokens[ck.Value] = true
		c.mu.Unlock()
	}
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			c.mu.Lock()
			c.tokens[ck.Value] = true
			c.mu.Unlock()
		}
	}
	return resp.StatusCode, d
}

func (c *client) must(method, path string) {
	c.t.Helper()
	code, _ := c.do(method, path)
	require.Equal(c.t, 200, code, "%s %s", method, path)
}

// allRows returns every text column of every row of the table.
func allRows(t testing.TB, db *sql.DB, table string) [][]string {
	t.Helper()
	rows, err := db.Query(`SELECT kind, session, user_id, platform, ip, user_agent, detail FROM ` + table + ` ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		r := make([]string, 7)
		require.NoError(t, rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// eventually polls cond for up to d.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
