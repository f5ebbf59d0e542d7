package ginsession_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// storeMakers lists the real stores the per-user tests run on. The Redis
// ones are added by redis_test.go.
var storeMakers = map[string]func(t testing.TB) store.Store{
	"sqlite": func(t testing.TB) store.Store { return sqliteStore(t) },
}

func forEachStore(t *testing.T, fn func(t *testing.T, mk func(t testing.TB) store.Store)) {
	for name, mk := range storeMakers {
		t.Run(name, func(t *testing.T) { fn(t, mk) })
	}
}

// addUserRoutes adds the session-management routes to an app's engine.
func userApp(t testing.TB, st store.Store, tweak func(*ginsession.Config)) *app {
	return newApp(t, st, func(c *ginsession.Config) {
		c.RecordDevice = true
		if tweak != nil {
			tweak(c)
		}
	})
}

func TestUserSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, mk func(t testing.TB) store.Store) {
		a := userApp(t, mk(t), nil)
		ctx := context.Background()
		devices := []*client{a.client(), a.client(), a.client()}
		for i, d := range devices {
			d.do("POST", "/login/42", http.Header{"User-Agent": {fmt.Sprintf("device-%d", i)}})
			time.Sleep(3 * time.Millisecond) // distinct creation times: the list is ordered by them
		}
		other := a.client()
		other.post("/login/43")

		list, err := a.mgr.UserSessions(ctx, "42")
		require.NoError(t, err)
		require.Len(t, list, 3)
		for i, si := range list {
			assert.Equal(t, fmt.Sprintf("device-%d", i), si.UserAgent, "oldest first, with device details")
			assert.Equal(t, "127.0.0.1", si.IP)
			assert.NotContains(t, si.Handle, devices[i].cookie())
		}

		// Revoke one: dead on its next request, others untouched.
		require.NoError(t, a.mgr.RevokeSession(ctx, "42", list[1].Handle))
		assert.Equal(t, "anonymous", devices[1].get("/whoami"))
		assert.Equal(t, "42", devices[0].get("/whoami"))
		assert.ErrorIs(t, a.mgr.RevokeSession(ctx, "42", list[1].Handle), ginsession.ErrSessionNotFound)
		assert.ErrorIs(t, a.mgr.RevokeSession(ctx, "43", list[0].Handle), ginsession.ErrSessionNotFound,
			"a handle of another user's session is not found")

		// Revoke all: only user 42.
		n, err := a.mgr.RevokeUser(ctx, "42", "")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, "anonymous", devices[0].get("/whoami"))
		assert.Equal(t, "anonymous", devices[2].get("/whoami"))
		assert.Equal(t, "43", other.get("/whoami"))
		assert.Contains(t, a.events.kinds(), "revoked")
	})
}

func TestRevokeOthersKeepsCurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, mk func(t testing.TB) store.Store) {
		a := userApp(t, mk(t), nil)
		r := gin.New()
		r.Use(a.mgr.Middleware())
		var listed []ginsession.Device
		r.POST("/others", func(c *gin.Context) {
			n, err := ginsession.Current(c).RevokeOthers(c)
			require.NoError(t, err)
			listed, err = ginsession.Current(c).UserSessions(c)
			require.NoError(t, err)
			c.String(200, "%d", n)
		})
		mine, theirs := a.client(), a.client()
		mine.post("/login/5")
		theirs.post("/login/5")
		srv := newServer(t, r)
		resp, body := srv.do(mine, "POST", "/others")
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "1", body)
		require.Len(t, listed, 1)
		assert.True(t, listed[0].Current)
		assert.Equal(t, "5", mine.get("/whoami"))
		assert.Equal(t, "anonymous", theirs.get("/whoami"))
	})
}

// 20 parallel logins of one user with a limit of 3 leave at most 3 live
// sessions, and the index matches the live set.
func TestConcurrentSessionLimit(t *testing.T) {
	for _, policy := range []ginsession.LimitPolicy{ginsession.LimitEvictOldest, ginsession.LimitRejectNew} {
		forEachStore(t, func(t *testing.T, mk func(t testing.TB) store.Store) {
			st := mk(t)
			a := userApp(t, st, func(c *ginsession.Config) {
				c.MaxSessionsPerUser = 3
				c.LimitPolicy = policy
			})
			clients := make([]*client, 20)
			var wg sync.WaitGroup
			for i := range clients {
				clients[i] = a.client()
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, body := clients[i].do("POST", "/login/limited", nil)
					assert.Contains(t, []int{200, 500}, resp.StatusCode, body)
				}()
			}
			wg.Wait()
			live := 0
			for _, c := range clients {
				if c.get("/whoami") == "limited" {
					live++
				}
			}
			entries, err := st.(store.UserIndex).ListUser(context.Background(), "limited")
			require.NoError(t, err)
			t.Logf("policy %d: %d live sessions", policy, live)
			assert.LessOrEqual(t, live, 3)
			assert.Equal(t, live, len(entries), "the index matches the live sessions")
			if policy == ginsession.LimitEvictOldest {
				assert.Equal(t, 3, live, "evict-oldest keeps exactly the newest 3")
				return
			}
			// Reject-new may refuse more than needed under a storm (never
			// admit too many); once calm, logins fill up to the limit and the
			// next one is refused.
			for live < 3 {
				resp, body := a.client().do("POST", "/login/limited", nil)
				require.Equal(t, 200, resp.StatusCode, body)
				live++
			}
			resp, body := a.client().do("POST", "/login/limited", nil)
			assert.Equal(t, 500, resp.StatusCode)
			assert.Contains(t, body, "too many sessions")
		})
	}
}

func TestFingerprint(t *testing.T) {
	for _, action := range []ginsession.FingerprintAction{ginsession.FingerprintEnd, ginsession.FingerprintFlag} {
		a := newApp(t, nil, func(c *ginsession.Config) {
			c.Fingerprint = ginsession.FingerprintOptions{Enabled: true, Action: action, IPv4PrefixBits: 24}
		})
		c := a.client()
		ua := http.Header{"User-Agent": {"browser-A"}}
		c.do("POST", "/login/9", ua)
		_, body := c.do("GET", "/whoami", ua)
		require.Equal(t, "9", body)

		// A spoofed X-Forwarded-For changes nothing: the test engine trusts no proxy.
		_, body = c.do("GET", "/whoami", http.Header{"User-Agent": {"browser-A"}, "X-Forwarded-For": {"203.0.113.9"}})
		assert.Equal(t, "9", body, "spoofed X-Forwarded-For must not change the client IP")

		thief := a.client()
		thief.setCookie(c.cookie())
		_, body = thief.do("GET", "/whoami", http.Header{"User-Agent": {"curl/8"}})
		if action == ginsession.FingerprintEnd {
			assert.Equal(t, "anonymous", body, "a stolen cookie from another client ends the session")
			_, body = c.do("GET", "/whoami", ua)
			assert.Equal(t, "anonymous", body)
		} else {
			assert.Equal(t, "9", body, "flag mode keeps the session")
		}
		assert.Contains(t, a.events.kinds(), "rejected:fingerprint")
	}
}

// Periodic rotation: one new token per rotation even when requests race on
// the old one; the old token keeps working for the grace window, then dies.
func TestPeriodicRotationWithGrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, mk func(t testing.TB) store.Store) {
		clk := &clock{now: time.Now()}
		a := newApp(t, mk(t), func(c *ginsession.Config) {
			c.Now = clk.Now
			c.RotateEvery = time.Hour
			c.RotateGrace = 30 * time.Second
		})
		c := a.client()
		c.post("/login/3")
		c.post("/set/k?v=v")
		old := c.cookie()
		clk.Advance(61 * time.Minute)

		var mu sync.Mutex
		issued := map[string]bool{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc := a.client()
				cc.setCookie(old)
				resp, body := cc.do("GET", "/get/k", nil)
				assert.Equal(t, "v", body, "in-flight requests on the old token are not logged out")
				for _, ck := range resp.Cookies() {
					mu.Lock()
					issued[ck.Value] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Len(t, issued, 1, "exactly one new token per rotation")
		var next string
		for k := range issued {
			next = k
		}
		assert.NotEqual(t, old, next)

		// Within the grace window the old token still leads to the session.
		clk.Advance(10 * time.Second)
		late := a.client()
		late.setCookie(old)
		assert.Equal(t, "v", late.get("/get/k"))
		assert.Equal(t, next, late.cookie(), "the old token is upgraded to the new one")

		// After it, the old token is dead and the new one lives.
		clk.Advance(30 * time.Second)
		gone := a.client()
		gone.setCookie(old)
		assert.Equal(t, "anonymous", gone.get("/whoami"))
		fresh := a.client()
		fresh.setCookie(next)
		assert.Equal(t, "3", fresh.get("/whoami"))

		// Privilege-change rotation has no grace: the pre-login token dies at once.
		c.setCookie(next)
		c.post("/login/3")
		stale := a.client()
		stale.setCookie(next)
		assert.Equal(t, "anonymous", stale.get("/whoami"))
	})
}

func TestRequireRecentLogin(t *testing.T) {
	clk := &clock{now: time.Now()}
	a := newApp(t, nil, func(c *ginsession.Config) { c.Now = clk.Now })
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/login/:id", func(c *gin.Context) {
		require.NoError(t, ginsession.Current(c).Login(ginsession.User{ID: c.Param("id")}))
	})
	r.POST("/sensitive", ginsession.RequireRecentLogin(10*time.Minute), func(c *gin.Context) { c.String(200, "done") })
	srv := newServer(t, r)
	c := a.client()
	resp, _ := srv.do(c, "POST", "/sensitive")
	assert.Equal(t, 401, resp.StatusCode, "anonymous")
	srv.do(c, "POST", "/login/1")
	resp, _ = srv.do(c, "POST", "/sensitive")
	assert.Equal(t, 200, resp.StatusCode)
	clk.Advance(11 * time.Minute)
	resp, body := srv.do(c, "POST", "/sensitive")
	assert.Equal(t, 401, resp.StatusCode)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	assert.Equal(t, "recent login required", e["error"])
}
