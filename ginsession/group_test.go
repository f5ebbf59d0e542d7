package ginsession_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// hybridStore is a hybrid store on a real Redis (addr) with a real SQLite
// mirror, write-through.
func hybridStore(t testing.TB, addr string) *hybrid.Store {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = rc.Close() })
	rs, err := redisstore.New(rc, redisstore.Options{Prefix: testserver.Prefix(t)})
	require.NoError(t, err)
	h, err := hybrid.New(rs, sqliteStore(t), hybrid.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// groupStores are the real stores the group-commit tests run on.
var groupStores = []struct {
	name string
	mk   func(t testing.TB) store.Store
}{
	{"sqlite", func(t testing.TB) store.Store { return sqliteStore(t) }},
	{"redis", func(t testing.TB) store.Store { return storeMakers["redis"](t) }},
	{"hybrid", func(t testing.TB) store.Store { return hybridStore(t, testserver.Redis(t)) }},
}

// 32 concurrent writers on one session, each setting its own key: none is
// lost, and in one process they never race each other through the
// compare-and-set (no write is retried: at most one store write each).
func TestGroupCommitKeepsEveryKey(t *testing.T) {
	for _, tc := range groupStores {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.mk(t), nil)
			c := a.client()
			c.post("/set/seed?v=0")
			tok := c.cookie()
			for round := range 3 {
				puts := a.store.puts.Load()
				var wg sync.WaitGroup
				var failed atomic.Int64
				for i := range 32 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						resp, err := rawDo(a, tok, "POST", fmt.Sprintf("/set/r%dk%02d?v=%d", round, i, i))
						if err != nil || resp != http.StatusOK {
							failed.Add(1)
						}
					}()
				}
				wg.Wait()
				require.Zero(t, failed.Load(), "every write is acknowledged")
				assert.LessOrEqual(t, a.store.puts.Load()-puts, int64(32), "no compare-and-set retries between writers of one process")
			}
			var keys []string
			require.NoError(t, json.Unmarshal([]byte(c.get("/keys")), &keys))
			assert.Len(t, keys, 1+3*32, "all 96 concurrent writes and the seed survive")
			assert.Equal(t, tok, c.cookie(), "updates keep the token")
		})
	}
}

// Concurrent writers of one key: the last acknowledged wins, and a logout
// in the middle of group-committed writes is never undone.
func TestGroupCommitLogoutNotUndone(t *testing.T) {
	for _, tc := range groupStores {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.mk(t), nil)
			c := a.client()
			c.post("/login/alice")
			tok := c.cookie()
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						_, _ = rawDo(a, tok, "POST", fmt.Sprintf("/set/k%d?v=%d", i, n))
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)
			lc := a.client()
			lc.setCookie(tok)
			lc.post("/logout")
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			assertEnded(t, a, tok)
		})
	}
}

// Redis dies (SIGKILL) while 32 writers group-commit on one session in
// hybrid mode: every acknowledged value is in the SQL mirror, and served
// from it.
func TestGroupCommitRedisKilled(t *testing.T) {
	rp := testserver.StartRedis(t)
	a := newApp(t, hybridStore(t, rp.Addr), nil)
	c := a.client()
	c.post("/set/seed?v=0")
	tok := c.cookie()
	const writers = 32
	var acked [writers]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range writers {
		acked[i].Store(-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, err := rawDo(a, tok, "POST", fmt.Sprintf("/set/w%02d?v=%d", i, n))
				if err == nil && code == http.StatusOK {
					acked[i].Store(int64(n))
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	rp.Kill(syscall.SIGKILL)
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	for i := range writers {
		want := acked[i].Load()
		if want < 0 {
			continue
		}
		got, err := strconv.ParseInt(c.get(fmt.Sprintf("/get/w%02d", i)), 10, 64)
		require.NoError(t, err, "writer %d: acknowledged %d, the key is gone", i, want)
		assert.GreaterOrEqual(t, got, want, "writer %d: acknowledged value lost", i)
	}
}

// rawDo sends one request with the session cookie tok, from any goroutine.
func rawDo(a *app, tok, method, path string) (int, error) {
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	if err != nil {
		return 0, err
	}
	req.AddCookie(&http.Cookie{Name: a.mgr.CookieName(), Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
