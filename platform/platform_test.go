package platform_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/platform"
)

func TestSwitchToOwnConnection(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	code, _ := c.platform()
	require.Equal(t, 409, code, "no platform selected yet")

	code, body := c.do("POST", "/platform/2")
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"id":2,"name":"pixelfed-photos","type":"pixelfed"}`, body)

	code, pc := c.platform()
	require.Equal(t, 200, code)
	assert.Equal(t, int64(2), pc.ConnectionID)
	assert.Equal(t, "pixelfed-photos", pc.Name)
	assert.Equal(t, "pixelfed", pc.Type)

	// Switching again to another own connection, then to the same one.
	code, _ = c.do("POST", "/platform/1")
	require.Equal(t, 200, code)
	code, _ = c.do("POST", "/platform/1")
	require.Equal(t, 200, code)
	_, pc = c.platform()
	assert.Equal(t, int64(1), pc.ConnectionID)
	assert.Equal(t, []string{"2", "1"}, a.events.switched(), "one event per change, none for a no-op switch")

	// Another client of the same user has its own session and platform.
	c2 := a.client()
	c2.login("1")
	code, _ = c2.platform()
	assert.Equal(t, 409, code)
}

func TestSwitchRefused(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	a.conns.exec(t, `INSERT INTO platform_connections (id, user_id, name, type, active) VALUES (4, '1', 'old', 'mastodon', 0)`)

	cases := []struct {
		name string
		path string
		want int
	}{
		{"another user's connection", "/platform/3", 403},
		{"unknown connection", "/platform/999", 403},
		{"inactive connection", "/platform/4", 403},
		{"zero", "/platform/0", 403},
		{"negative", "/platform/-7", 403},
		{"not a number", "/platform/abc", 400},
		{"overflow", "/platform/99999999999999999999", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.do("POST", tc.path)
			assert.Equal(t, tc.want, code, body)
			code, pc := c.platform()
			assert.Equal(t, 200, code)
			assert.Equal(t, int64(1), pc.ConnectionID, "a refused switch changes nothing")
		})
	}
	assert.Equal(t, []string{"1"}, a.events.switched())

	anon := a.client()
	code, _ := anon.do("POST", "/platform/1")
	assert.Equal(t, 401, code)
}

func TestDeletedConnectionIsCleared(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/2")))
	a.conns.exec(t, `DELETE FROM platform_connections WHERE id = 2`)

	code, pc := c.platform()
	assert.Equal(t, 200, code, "within the TTL the cached validation still holds")
	assert.Equal(t, int64(2), pc.ConnectionID)

	a.clock.Advance(platform.DefaultCacheTTL + time.Second)
	calls := a.conns.calls.Load()
	code, _ = c.platform()
	assert.Equal(t, 409, code, "the deleted connection is no longer served")
	assert.Equal(t, calls+1, a.conns.calls.Load())
	code, _ = c.platform()
	assert.Equal(t, 409, code)
	assert.Equal(t, calls+1, a.conns.calls.Load(), "the session no longer holds it: no more loader calls")
	assert.Equal(t, []string{"2", ""}, a.events.switched(), "clearing is announced with an empty detail")
}

func TestInvalidateTakesEffectAtOnce(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/2")))
	a.conns.exec(t, `UPDATE platform_connections SET active = 0 WHERE id = 2`)
	a.pm.Invalidate("1", 2)
	code, _ := c.platform()
	assert.Equal(t, 409, code)
}

func TestCacheAsksLoaderOncePerTTL(t *testing.T) {
	a := newApp(t, platform.Options{CacheTTL: 10 * time.Second})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	calls := a.conns.calls.Load()
	for range 20 {
		code, _ := c.platform()
		require.Equal(t, 200, code)
	}
	assert.Equal(t, calls, a.conns.calls.Load(), "Switch filled the cache: no loader call within the TTL")

	a.clock.Advance(11 * time.Second)
	for range 20 {
		code, _ := c.platform()
		require.Equal(t, 200, code)
	}
	assert.Equal(t, calls+1, a.conns.calls.Load(), "one loader call per TTL")

	// A renamed connection is picked up at the next validation.
	a.conns.exec(t, `UPDATE platform_connections SET name = 'renamed' WHERE id = 1`)
	a.clock.Advance(11 * time.Second)
	_, pc := c.platform()
	assert.Equal(t, "renamed", pc.Name)
}

func TestDisableCache(t *testing.T) {
	a := newApp(t, platform.Options{DisableCache: true})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	calls := a.conns.calls.Load()
	for range 5 {
		c.platform()
	}
	assert.Equal(t, calls+5, a.conns.calls.Load())
	assert.Zero(t, a.pm.CacheLen())
}

func TestCacheIsBounded(t *testing.T) {
	a := newApp(t, platform.Options{CacheSize: 3})
	for i := 10; i < 18; i++ {
		a.conns.exec(t, `INSERT INTO platform_connections (id, user_id, name, type) VALUES (?, ?, 'c', 'mastodon')`, i, strconv.Itoa(i))
		c := a.client()
		c.login(strconv.Itoa(i))
		require.Equal(t, 200, first(c.do("POST", "/platform/"+strconv.Itoa(i))))
		assert.LessOrEqual(t, a.pm.CacheLen(), 3)
	}
	assert.Equal(t, 3, a.pm.CacheLen())
}

func TestLoaderOutage(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	require.NoError(t, a.conns.db.Close()) // the application's database goes away

	a.clock.Advance(time.Hour)
	code, pc := c.platform()
	assert.Equal(t, 200, code, "a stale cached copy is served during an outage")
	assert.Equal(t, int64(1), pc.ConnectionID)

	a.pm.InvalidateUser("1")
	code, body := c.do("GET", "/platform")
	assert.Equal(t, 503, code, "nothing cached: unavailable, not 'no platform' and not 500: %s", body)
	code, _ = c.do("POST", "/platform/2")
	assert.Equal(t, 503, code)
	assert.Equal(t, []string{"1"}, a.events.switched(), "an outage never clears the session's platform")
}

func TestLazy(t *testing.T) {
	a := newApp(t, platform.Options{})
	anon := a.client()
	for range 3 {
		code, _ := anon.do("GET", "/untouched")
		require.Equal(t, 200, code)
	}
	assert.Zero(t, a.store.gets.Load()+a.store.puts.Load(), "no cookie: no store call")
	assert.Zero(t, a.conns.calls.Load())

	c := a.client()
	c.login("1")
	puts := a.store.puts.Load()
	for range 3 {
		code, _ := c.do("GET", "/untouched")
		require.Equal(t, 200, code)
	}
	assert.Zero(t, a.conns.calls.Load(), "no platform in the session: no loader call")
	assert.Equal(t, puts, a.store.puts.Load(), "and no write")
}

func TestPlantedValues(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	cases := []struct{ name, plant string }{
		{"garbage", "/plant?v=garbage"},
		{"another user's connection", "/plant?id=3"},
		{"unknown connection", "/plant?id=12345"},
		{"negative id", "/plant?id=-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, 204, first(c.do("POST", tc.plant)))
			code, body := c.do("GET", "/platform")
			assert.Equal(t, 409, code, body)
			code, _ = c.do("GET", "/platform")
			assert.Equal(t, 409, code, "the planted value is gone")
		})
	}
	// A planted own connection is accepted, with the loader's name, not
	// the planted one.
	require.Equal(t, 204, first(c.do("POST", "/plant?id=2")))
	code, pc := c.platform()
	assert.Equal(t, 200, code)
	assert.Equal(t, "pixelfed-photos", pc.Name)
}

func TestClearAndLogout(t *testing.T) {
	a := newApp(t, platform.Options{})
	c := a.client()
	c.login("1")
	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	require.Equal(t, 204, first(c.do("DELETE", "/platform")))
	code, _ := c.platform()
	assert.Equal(t, 409, code)
	require.Equal(t, 204, first(c.do("DELETE", "/platform")))
	assert.Equal(t, []string{"1", ""}, a.events.switched(), "clearing twice announces once")

	require.Equal(t, 200, first(c.do("POST", "/platform/1")))
	require.Equal(t, 200, first(c.do("POST", "/logout")))
	code, _ = c.platform()
	assert.Equal(t, 401, code)
}

func TestWithoutMiddleware(t *testing.T) {
	r := gin.New()
	var fromOK bool
	var switchErr, clearErr error
	r.GET("/", func(c *gin.Context) {
		_, fromOK = platform.From(c)
		_, switchErr = platform.Switch(c, 1)
		clearErr = platform.Clear(c)
	})
	r.GET("/req", platform.Require(), func(c *gin.Context) {})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.False(t, fromOK)
	assert.ErrorIs(t, switchErr, platform.ErrNoMiddleware)
	assert.ErrorIs(t, clearErr, platform.ErrNoMiddleware)
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/req", nil))
	assert.Equal(t, 500, w.Code)

	// A wrong type under Key is "no platform", not a panic.
	r2 := gin.New()
	r2.GET("/", func(c *gin.Context) {
		c.Set(platform.Key, "not a context")
		_, fromOK = platform.From(c)
		c.Set(platform.Key, (*platform.Context)(nil))
		_, ok2 := platform.From(c)
		fromOK = fromOK || ok2
	})
	r2.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	assert.False(t, fromOK)

	_, err := platform.New(nil, platform.Options{})
	assert.Error(t, err)
	assert.Panics(t, func() { platform.Middleware(nil) })
}

func TestLoaderContract(t *testing.T) {
	// A loader answering nothing, or the wrong connection, never gets its
	// answer onto the context.
	cases := []struct {
		name   string
		loader platform.Loader
		want   int
	}{
		{"nil without error", func(context.Context, string, int64) (*platform.Context, error) { return nil, nil }, 403},
		{"wrong connection", func(context.Context, string, int64) (*platform.Context, error) {
			return &platform.Context{ConnectionID: 99, Name: "x"}, nil
		}, 503},
		{"wrapped not found", func(context.Context, string, int64) (*platform.Context, error) {
			return nil, fmt.Errorf("no row: %w", platform.ErrNotFound)
		}, 403},
		{"slow loader", func(ctx context.Context, _ string, _ int64) (*platform.Context, error) {
			<-ctx.Done() // bounded by LoaderTimeout
			return nil, ctx.Err()
		}, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAppLoader(t, tc.loader, platform.Options{LoaderTimeout: 50 * time.Millisecond})
			c := a.client()
			c.login("1")
			code, body := c.do("POST", "/platform/1")
			assert.Equal(t, tc.want, code, body)
			code, _ = c.do("GET", "/platform")
			assert.Equal(t, 409, code)
		})
	}
}

func first(code int, _ string) int { return code }

// Many tabs of many users at once, with a cache that keeps expiring: every
// answer is the user's own connection (run with -race).
func TestConcurrentRequests(t *testing.T) {
	a := newApp(t, platform.Options{CacheTTL: time.Nanosecond, CacheSize: 2, Now: time.Now})
	users := []struct{ id, conn string }{{"1", "1"}, {"1", "2"}, {"2", "3"}}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for _, u := range users {
		c := a.client()
		c.login(u.id)
		require.Equal(t, 200, first(c.do("POST", "/platform/"+u.conn)))
		for range 3 { // tabs of one browser session
			wg.Go(func() {
				for range 15 {
					code, pc := c.platform()
					if code != 200 || strconv.FormatInt(pc.ConnectionID, 10) != u.conn {
						errs <- fmt.Sprintf("user %s: %d %+v", u.id, code, pc)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	assert.Greater(t, a.conns.calls.Load(), int64(100), "the expired cache sent requests to the loader")
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.LessOrEqual(t, a.pm.CacheLen(), 2)
}
