package ginsession_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/sealed"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// seedLogin is the benchmark's login: the user and the three platform
// values a login handler sets right after.
func seedLogin(c *gin.Context) error {
	if err := ginsession.Current(c).Login(ginsession.User{ID: "1", Username: "alice", Role: "admin"}); err != nil {
		return err
	}
	s := ginsession.Current(c)
	for _, kv := range []struct {
		k string
		v any
	}{{"platform_connection_id", 1}, {"platform_name", "mastodon-main"}, {"platform_type", "mastodon"}} {
		if err := s.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// seedServer serves the seed login on an app's manager.
func seedServer(t testing.TB, a *app) *server {
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/seed-login", func(c *gin.Context) {
		if err := seedLogin(c); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "in")
	})
	return newServer(t, r)
}

// A login and the Sets that follow it cost one store write: the commit's
// create. An earlier session costs one more, its tombstone, written before
// Login returns. With a session limit, the login writes its entry at once
// (the limit's check lists the user's sessions after it), and the commit
// writes again.
func TestLoginWritesOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, mk func(t testing.TB) store.Store) {
		a := userApp(t, mk(t), nil)
		srv := seedServer(t, a)

		c := a.client()
		before := a.store.puts.Load()
		resp, body := srv.do(c, "POST", "/seed-login")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, int64(1), a.store.puts.Load()-before, "a new visitor's login + 3 Sets: one Put")
		assert.Equal(t, "1", c.get("/whoami"))
		assert.Equal(t, "mastodon-main", c.get("/get/platform_name"), "the Sets after Login are stored")
		list, err := a.mgr.UserSessions(context.Background(), "1")
		require.NoError(t, err)
		require.Len(t, list, 1, "the entry is in the user's index")
		assert.Equal(t, "127.0.0.1", list[0].IP, "with the device Login recorded")

		anon := a.client()
		anon.post("/set/cart?v=3")
		old := anon.cookie()
		before = a.store.puts.Load()
		resp, body = srv.do(anon, "POST", "/seed-login")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, int64(2), a.store.puts.Load()-before, "an earlier session: its tombstone and the new entry")
		assertEnded(t, a, old)
		assert.Equal(t, "3", anon.get("/get/cart"), "values set before login are kept")
		assert.Equal(t, "1", anon.get("/whoami"))

		limited := userApp(t, mk(t), func(c *ginsession.Config) { c.MaxSessionsPerUser = 2 })
		lsrv := seedServer(t, limited)
		devices := []*client{limited.client(), limited.client(), limited.client()}
		for i, d := range devices {
			before := limited.store.puts.Load()
			resp, body := lsrv.do(d, "POST", "/seed-login")
			require.Equal(t, 200, resp.StatusCode, body)
			want := int64(2)
			if i == 2 {
				want = 3 // and the oldest session's tombstone
			}
			assert.Equal(t, want, limited.store.puts.Load()-before, "login %d with a limit", i)
			time.Sleep(3 * time.Millisecond) // distinct creation times: the limit evicts by them
		}
		assert.Equal(t, "anonymous", devices[0].get("/whoami"), "the limit evicted the oldest session")
		assert.Equal(t, "1", devices[1].get("/whoami"))
		assert.Equal(t, "1", devices[2].get("/whoami"))
		list, err = limited.mgr.UserSessions(context.Background(), "1")
		require.NoError(t, err)
		assert.Len(t, list, 2)
	})
}

// What a handler may do after Login in the same request, while the new
// entry waits for the commit.
func TestLoginThenSameRequest(t *testing.T) {
	var seen []ginsession.Rotation
	a := userApp(t, nil, func(c *ginsession.Config) {
		c.OnRotate = []ginsession.RotateHook{func(_ context.Context, r ginsession.Rotation) error {
			seen = append(seen, r)
			return nil
		}}
	})
	r := gin.New()
	r.Use(a.mgr.Middleware())
	login := func(c *gin.Context) bool {
		if err := ginsession.Current(c).Login(ginsession.User{ID: "7"}); err != nil {
			c.String(500, err.Error())
			return false
		}
		return true
	}
	r.POST("/login-list", func(c *gin.Context) {
		if !login(c) {
			return
		}
		s := ginsession.Current(c)
		require.NoError(t, s.Set("k", "v"))
		list, err := s.UserSessions(c)
		if err != nil {
			c.String(500, err.Error())
			return
		}
		require.NoError(t, s.Set("after", "listing"))
		c.JSON(200, list)
	})
	r.POST("/login-logout", func(c *gin.Context) {
		if login(c) && ginsession.Current(c).Logout() == nil {
			c.String(200, "out")
		}
	})
	r.POST("/login-rotate", func(c *gin.Context) {
		if !login(c) {
			return
		}
		require.NoError(t, ginsession.Current(c).Set("k", "v"))
		require.NoError(t, ginsession.Current(c).Rotate("rotate"))
		c.String(200, "rotated")
	})
	r.POST("/login-stream", func(c *gin.Context) {
		if !login(c) {
			return
		}
		_ = ginsession.Current(c).Set("k", "streamed")
		c.Header("Content-Type", "text/event-stream")
		c.SSEvent("tick", 1)
		c.Writer.Flush()
	})
	srv := newServer(t, r)

	t.Run("UserSessions sees the new session", func(t *testing.T) {
		c := a.client()
		before := a.store.puts.Load()
		resp, body := srv.do(c, "POST", "/login-list")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Contains(t, body, `"current":true`)
		list, err := a.mgr.UserSessions(context.Background(), "7")
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, store.Handle(store.KeyFromToken(c.cookie())), list[0].Handle)
		assert.Equal(t, int64(2), a.store.puts.Load()-before, "the listing stores the entry; the commit stores the Set after it")
		assert.Equal(t, "v", c.get("/get/k"))
		assert.Equal(t, "listing", c.get("/get/after"))
	})

	t.Run("Logout ends it unstored", func(t *testing.T) {
		c := a.client()
		c.post("/set/x?v=1")
		old := c.cookie()
		n := len(a.events.kinds())
		before := a.store.puts.Load()
		resp, body := srv.do(c, "POST", "/login-logout")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, []string{"rotated", "login", "logout"}, a.events.kinds()[n:])
		assert.Equal(t, int64(1), a.store.puts.Load()-before, "the old session's tombstone, nothing more")
		assert.Equal(t, "", c.cookie(), "the cookie is expired")
		assertEnded(t, a, old)
	})

	t.Run("Rotate moves it unstored", func(t *testing.T) {
		c := a.client()
		seen = nil
		before := a.store.puts.Load()
		resp, body := srv.do(c, "POST", "/login-rotate")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, int64(1), a.store.puts.Load()-before)
		require.Len(t, seen, 2)
		assert.Equal(t, "", seen[0].Old)
		assert.Equal(t, seen[0].New, seen[1].Old, "the hooks see the login's handle move")
		assert.Equal(t, store.Handle(store.KeyFromToken(c.cookie())), seen[1].New)
		assert.Equal(t, "7", c.get("/whoami"))
		assert.Equal(t, "v", c.get("/get/k"))
		_, err := a.store.Store.Get(context.Background(), store.KeyFromToken(c.cookie()))
		require.NoError(t, err)
	})

	t.Run("a stream commits before its first byte", func(t *testing.T) {
		c := a.client()
		before := a.store.puts.Load()
		resp, body := srv.do(c, "POST", "/login-stream")
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Contains(t, body, "event:tick")
		assert.NotEmpty(t, resp.Header.Get("Set-Cookie"))
		assert.Equal(t, int64(1), a.store.puts.Load()-before)
		assert.Equal(t, "streamed", c.get("/get/k"))
		assert.Equal(t, "7", c.get("/whoami"))
	})

	t.Run("events", func(t *testing.T) {
		c := a.client()
		n := len(a.events.kinds())
		srv.do(c, "POST", "/login-stream")
		assert.Equal(t, []string{"created", "login"}, a.events.kinds()[n:], "a new visitor's login")
	})
}

// failPuts is a real store whose Puts fail while fail is set.
type failPuts struct {
	store.Store
	fail atomic.Bool
}

func (f *failPuts) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	if f.fail.Load() {
		return fmt.Errorf("%w: test outage", store.ErrUnavailable)
	}
	return f.Store.Put(ctx, e, prev)
}

func (f *failPuts) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	return f.Store.(store.UserIndex).ListUser(ctx, userID)
}

func (f *failPuts) DeleteUser(ctx context.Context, userID, keep string) (int, error) {
	return f.Store.(store.UserIndex).DeleteUser(ctx, userID, keep)
}

// A commit that fails after a login answers 500 and sends no cookie; the
// login leaves nothing stored, and the earlier session is dead all the same.
func TestLoginCommitFailure(t *testing.T) {
	for _, stream := range []bool{false, true} {
		st := &failPuts{Store: sqliteStore(t)}
		a := newApp(t, st, nil)
		c := a.client()
		c.post("/set/x?v=1")
		old := c.cookie()
		r := gin.New()
		r.Use(a.mgr.Middleware())
		r.POST("/", func(c *gin.Context) {
			require.NoError(t, seedLogin(c))
			st.fail.Store(true) // an outage between Login and the commit
			if stream {
				c.String(200, "handler output")
			} else {
				c.Status(200)
			}
		})
		srv := newServer(t, r)
		resp, body := srv.do(c, "POST", "/")
		st.fail.Store(false)
		assert.Equal(t, 503, resp.StatusCode, "an outage is a 503")
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		assert.Equal(t, `{"error":"session store unavailable"}`, body)
		assert.Empty(t, resp.Header.Get("Set-Cookie"))
		assert.Equal(t, old, c.cookie(), "the client keeps its old cookie")
		list, err := a.mgr.UserSessions(context.Background(), "1")
		require.NoError(t, err)
		assert.Empty(t, list, "nothing of the login is stored")
		assertEnded(t, a, old)
	}
}

// User decodes nothing that load or Login already decoded, and follows
// every change of identity within a request.
func TestUserFollowsIdentity(t *testing.T) {
	a := newApp(t, nil, nil)
	r := gin.New()
	r.Use(a.mgr.Middleware())
	user := func(s *ginsession.Session) ginsession.User {
		u, err := s.User()
		require.NoError(t, err)
		return u
	}
	r.POST("/", func(c *gin.Context) {
		s := ginsession.Current(c)
		if u := user(s); u.ID != "" {
			assert.Equal(t, "alice", u.Username)
			assert.Zero(t, testing.AllocsPerRun(10, func() { user(s) }), "the user load decoded is kept")
			require.NoError(t, ginsession.Current(c).Logout())
		}
		assert.Equal(t, ginsession.User{}, user(s))
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "1", Username: "bob"}))
		assert.Equal(t, "bob", user(s).Username)
		assert.Zero(t, testing.AllocsPerRun(10, func() { user(s) }), "the user Login encoded is kept")
		require.NoError(t, ginsession.Current(c).Logout())
		assert.Equal(t, ginsession.User{}, user(s))
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: "2", Username: "alice"}))
		assert.Equal(t, "alice", user(s).Username)
		c.Status(204)
	})
	srv := newServer(t, r)
	c := a.client()
	for range 2 {
		resp, body := srv.do(c, "POST", "/")
		require.Equal(t, 204, resp.StatusCode, body)
		assert.Equal(t, "2", c.get("/whoami"))
	}
}

// LoginTime is the session's creation time, sealed: a store writer who
// makes the plaintext creation time recent does not pass a recent-login
// check, the session is rejected instead.
func TestLoginTimeIsSealed(t *testing.T) {
	clk := &clock{now: time.Now()}
	st := sqliteStore(t)
	a := newApp(t, st, func(c *ginsession.Config) { c.Now = clk.Now })
	var loginTime time.Time
	var info ginsession.Info
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.GET("/login-time", func(c *gin.Context) {
		s := ginsession.Current(c)
		var err error
		loginTime, err = s.LoginTime()
		require.NoError(t, err)
		info, _, err = s.Info()
		require.NoError(t, err)
		c.Status(204)
	})
	r.POST("/sensitive", ginsession.RequireRecentLogin(10*time.Minute), func(c *gin.Context) { c.String(200, "done") })
	srv := newServer(t, r)
	c := a.client()
	srv.do(c, "GET", "/login-time")
	assert.True(t, loginTime.IsZero(), "anonymous")

	at := clk.Now()
	c.post("/login/1")
	srv.do(c, "GET", "/login-time")
	assert.Equal(t, store.Millis(at), loginTime)
	assert.Equal(t, info.Created, loginTime)
	c.post("/set/k?v=v")
	clk.Advance(time.Hour)
	resp, _ := srv.do(c, "POST", "/sensitive")
	assert.Equal(t, 401, resp.StatusCode)

	key := store.KeyFromToken(c.cookie())
	_, err := st.DB().Exec(`UPDATE sessions SET created = ? WHERE key = ?`, clk.Now().UnixMilli(), key)
	require.NoError(t, err)
	resp, _ = srv.do(c, "POST", "/sensitive")
	assert.Equal(t, 401, resp.StatusCode, "a creation time edited in the store is no recent login")
	assert.Contains(t, a.events.kinds(), "rejected:decrypt", "the envelope binds the creation time")
	assert.Equal(t, "anonymous", c.get("/whoami"))
}

// The seed-shaped session (the benchmark's login and three platform values)
// seals to a known size: a change that grows it shows here.
func TestSeedSessionSealedSize(t *testing.T) {
	a := newApp(t, nil, nil)
	srv := seedServer(t, a)
	c := a.client()
	resp, body := srv.do(c, "POST", "/seed-login")
	require.Equal(t, 200, resp.StatusCode, body)
	e, err := a.store.Store.Get(context.Background(), store.KeyFromToken(c.cookie()))
	require.NoError(t, err)
	rec, _, err := a.mgr.Config().Keyring.OpenWith(e.Key, sealed.Bound, sealed.Bindings(nil, e), e.Payload)
	require.NoError(t, err)
	t.Logf("seed session: record %d bytes, sealed %d bytes", len(rec), len(e.Payload))
	assert.Equal(t, 114, len(rec))
	assert.Equal(t, 144, len(e.Payload))
}

// Records sealed before the lifetime held the creation time (the deadline
// alone under "\x00a", the login time under "\x00t") are still served, their
// creation time checked against the sealed login time; their next rotation
// writes the new form.
func TestLegacyRecord(t *testing.T) {
	clk := &clock{now: time.Now()}
	st := sqliteStore(t)
	a := newApp(t, st, func(c *ginsession.Config) { c.Now = clk.Now })
	legacy := func() *client {
		created := store.Millis(clk.Now().Add(-time.Minute))
		abs := created.Add(24 * time.Hour)
		return plant(t, a, st, "4", created, abs, map[string]any{
			"\x00u": ginsession.User{ID: "4", Username: "old"},
			"\x00t": created,
			"\x00a": abs.UnixMilli(),
			"k":     "legacy",
		})
	}
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/sensitive", ginsession.RequireRecentLogin(10*time.Minute), func(c *gin.Context) { c.String(200, "done") })
	r.POST("/rotate", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Rotate("rotate"))
		c.Status(204)
	})
	srv := newServer(t, r)
	sensitive := func(c *client) int {
		resp, _ := srv.do(c, "POST", "/sensitive")
		return resp.StatusCode
	}

	c := legacy()
	assert.Equal(t, "4", c.get("/whoami"))
	assert.Equal(t, "legacy", c.get("/get/k"))
	assert.Equal(t, 200, sensitive(c), "a recent login, sealed the old way")

	tampered := legacy()
	_, err := st.DB().Exec(`UPDATE sessions SET created = ? WHERE key = ?`, clk.Now().UnixMilli(), store.KeyFromToken(tampered.cookie()))
	require.NoError(t, err)
	assert.Equal(t, "anonymous", tampered.get("/whoami"), "a creation time that is not the sealed login time")

	resp, _ := srv.do(c, "POST", "/rotate")
	require.Equal(t, 204, resp.StatusCode)
	e, err := st.Get(context.Background(), store.KeyFromToken(c.cookie()))
	require.NoError(t, err)
	plain, _, err := a.mgr.Config().Keyring.OpenWith(e.Key, sealed.Bound, sealed.Bindings(nil, e), e.Payload)
	require.NoError(t, err, "the rotation writes the current form, its fields bound to the envelope")
	vals, err := store.DecodeRecord(plain, store.Limits{})
	require.NoError(t, err)
	assert.Nil(t, vals["\x00t"], "the rotation drops the login time")
	assert.Nil(t, vals["\x00a"], "and the sealed lifetime")
	assert.Equal(t, 200, sensitive(c), "the login time survives it")
	clk.Advance(11 * time.Minute)
	assert.Equal(t, 401, sensitive(c))
	assert.Equal(t, "legacy", c.get("/get/k"))
}
