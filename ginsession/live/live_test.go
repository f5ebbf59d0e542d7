package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// redisBroker is a redisstore Store on its own client of the shared test
// Redis, under prefix: what each app instance has.
func redisBroker(t testing.TB, prefix string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: prefix})
	require.NoError(t, err)
	return st
}

// syncFlow drives, on instance a, platform switches and a logout of one
// browser session, and checks that a stream of the same session opened on
// instance b sees each at once, and that b refuses the cookie right after.
func syncFlow(t *testing.T, a, b *instance) {
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/login/1")
	br.must("POST", a.Srv.URL+"/platform/1")
	// Publishing is asynchronous: let the events so far go out before the
	// stream starts listening.
	require.Eventually(t, func() bool { return a.Pub.Pending() == 0 }, 2*time.Second, time.Millisecond)
	st, code, body := br.openSSE(b.Srv.URL+"/events", nil)
	require.Equal(t, 200, code, body)

	var lat []time.Duration
	for i := range 6 {
		id := strconv.Itoa(2 + i%2)
		t0 := time.Now()
		br.must("POST", a.Srv.URL+"/platform/"+id)
		ev, ok := st.next(time.Second)
		require.True(t, ok, "switch %d did not reach the other instance within 1 s", i)
		assert.Equal(t, "platform_switched", ev.Kind)
		assert.Equal(t, id, ev.Msg.Detail)
		assert.Equal(t, strconv.Itoa(i+1), ev.ID, "ids increase by one")
		lat = append(lat, ev.At.Sub(t0))
	}
	slices.Sort(lat)
	t.Logf("platform switch on A -> SSE client on B (request included): min %v, median %v, max %v",
		lat[0], lat[len(lat)/2], lat[len(lat)-1])

	cookie := br.cookie(a.Srv.URL)
	require.NotEmpty(t, cookie)
	t0 := time.Now()
	br.must("POST", a.Srv.URL+"/logout")
	ev, ok := st.next(time.Second)
	require.True(t, ok, "logout did not reach the other instance within 1 s")
	assert.Equal(t, "logout", ev.Kind)
	t.Logf("logout on A -> SSE client on B: %v", ev.At.Sub(t0))
	assert.True(t, st.ended(time.Second), "the stream ends after logout")

	// The old cookie, replayed to b at once, is anonymous there.
	code, who := br.do("GET", b.Srv.URL+"/whoami", http.Header{"Cookie": {cookie}})
	assert.Equal(t, 200, code)
	assert.Equal(t, "anonymous", who)
	code, _ = br.do("GET", b.Srv.URL+"/events", http.Header{"Cookie": {cookie}})
	assert.Equal(t, 401, code, "no stream for an ended session")
}

// Two instances: each its own session manager and store handle on one
// SQLite file, each its own Redis client; events cross through Redis.
func TestCrossInstanceRedis(t *testing.T) {
	kr, db, prefix := testapp.Keyring(t), dbFile(t), testserver.Prefix(t)
	a := newInstance(t, db, kr, redisBroker(t, prefix), live.Options{})
	b := newInstance(t, db, kr, redisBroker(t, prefix), live.Options{})
	syncFlow(t, a, b)
}

// The same with the sessions in one PostgreSQL schema.
func TestCrossInstanceRedisPostgres(t *testing.T) {
	kr, dsn, prefix := testapp.Keyring(t), testserver.Postgres(t), testserver.Prefix(t)
	a := newInstance(t, dsn, kr, redisBroker(t, prefix), live.Options{})
	b := newInstance(t, dsn, kr, redisBroker(t, prefix), live.Options{})
	syncFlow(t, a, b)
}

// One instance with the in-process broker.
func TestLocalBroker(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	syncFlow(t, a, a)
}

// Rotation: the stream gets "rotated" with the new handle and ends; the
// client reconnects with the new cookie and keeps receiving.
func TestRotatedReconnects(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/login/1")
	oldHandle := br.must("GET", a.Srv.URL+"/handle")
	st, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.Equal(t, 200, code)
	br.must("POST", a.Srv.URL+"/rotate")
	newHandle := br.must("GET", a.Srv.URL+"/handle")
	require.NotEqual(t, oldHandle, newHandle)
	ev, ok := st.next(time.Second)
	require.True(t, ok)
	assert.Equal(t, "rotated", ev.Kind)
	assert.Equal(t, oldHandle, ev.Msg.Session)
	assert.Equal(t, newHandle, ev.Msg.Detail)
	assert.True(t, st.ended(time.Second), "the stream ends so the client reconnects")

	st2, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.Equal(t, 200, code)
	br.must("POST", a.Srv.URL+"/platform/3")
	ev, ok = st2.next(time.Second)
	require.True(t, ok)
	assert.Equal(t, "platform_switched", ev.Kind)
	assert.Equal(t, newHandle, ev.Msg.Session)
}

// An anonymous session logging in is a rotation for its stream.
func TestLoginRotatesAnonymousStream(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/anon")
	st, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.Equal(t, 200, code, "an anonymous stored session may stream")
	br.must("POST", a.Srv.URL+"/login/1")
	ev, ok := st.next(time.Second)
	require.True(t, ok)
	assert.Equal(t, "rotated", ev.Kind)
	assert.True(t, st.ended(time.Second))
}

// Revoking a session from another one reaches the revoked session's
// stream, which ends; its cookie is then refused.
func TestRevoked(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	laptop, phone := newBrowser(t), newBrowser(t)
	laptop.must("POST", a.Srv.URL+"/login/1")
	phone.must("POST", a.Srv.URL+"/login/1")
	stLaptop, _, _ := laptop.openSSE(a.Srv.URL+"/events", nil)
	stPhone, _, _ := phone.openSSE(a.Srv.URL+"/events", nil)
	require.NotNil(t, stLaptop)
	require.NotNil(t, stPhone)
	handle := laptop.must("GET", a.Srv.URL+"/handle")
	phone.must("DELETE", a.Srv.URL+"/sessions/"+handle)
	ev, ok := stLaptop.next(time.Second)
	require.True(t, ok)
	assert.Equal(t, "revoked", ev.Kind)
	assert.True(t, stLaptop.ended(time.Second))
	assert.Equal(t, "anonymous", laptop.must("GET", a.Srv.URL+"/whoami"))
	_, ok = stPhone.next(200 * time.Millisecond)
	assert.False(t, ok, "the revoking session's own stream hears nothing")
	assert.False(t, stPhone.ended(0))
}

// The user topic carries user-wide messages only; anything malformed on a
// topic is skipped without breaking the stream.
func TestTopicsAndForeignMessages(t *testing.T) {
	b := live.NewLocalBroker()
	a := newInstance(t, dbFile(t), testapp.Keyring(t), b, live.Options{})
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/login/42")
	handle := br.must("GET", a.Srv.URL+"/handle")
	st, _, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.NotNil(t, st)
	ctx := context.Background()
	pub := func(topic, msg string) { require.NoError(t, b.Publish(ctx, topic, []byte(msg))) }

	own, user := live.SessionTopic(handle), live.UserTopic("42")
	pub(own, "not json")
	pub(own, `{"kind":"evil\nevent: logout","session":"x"}`)
	pub(own, `{"kind":""}`)
	pub(user, `{"kind":"revoked","session":"someone-else"}`) // another session of the user
	pub(user, `{"kind":"platform_switched"}`)                // not a user-wide kind
	pub(live.UserTopic("43"), `{"kind":"logout"}`)           // another user
	_, ok := st.next(200 * time.Millisecond)
	assert.False(t, ok, "nothing above is for this stream")

	pub(own, `{"kind":"platform_switched","detail":"5","time":"2026-01-01T00:00:00Z"}`)
	ev, ok := st.next(time.Second)
	require.True(t, ok, "the stream survived")
	assert.Equal(t, "platform_switched", ev.Kind)
	assert.Equal(t, "1", ev.ID, "skipped messages use no id")

	pub(user, `{"kind":"logout"}`) // user-wide: every session of the user
	ev, ok = st.next(time.Second)
	require.True(t, ok)
	assert.Equal(t, "logout", ev.Kind)
	assert.True(t, st.ended(time.Second))
}

func TestRefusedWithoutSession(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	name := a.Mgr.CookieName()
	cases := []struct{ name, cookie string }{
		{"no cookie", ""},
		{"malformed", name + "=abc"},
		{"unknown token", name + "=" + store.NewToken().String()},
		{"junk", name + "=" + strings.Repeat("\xff", 100)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := newBrowser(t)
			h := http.Header{}
			if tc.cookie != "" {
				h.Set("Cookie", tc.cookie)
			}
			_, code, body := br.openSSE(a.Srv.URL+"/events", h)
			assert.Equal(t, 401, code)
			var e map[string]string
			require.NoError(t, json.Unmarshal([]byte(body), &e))
			assert.NotEmpty(t, e["error"])
		})
	}
}

func TestHeartbeatAndMaxDuration(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(),
		live.Options{Heartbeat: 30 * time.Millisecond, MaxDuration: 400 * time.Millisecond})
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/login/1")
	t0 := time.Now()
	st, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "text/event-stream", st.resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", st.resp.Header.Get("Cache-Control"))
	require.True(t, st.ended(2*time.Second), "MaxDuration ends the stream")
	took := time.Since(t0)
	assert.GreaterOrEqual(t, took, 350*time.Millisecond)
	assert.GreaterOrEqual(t, st.pings.Load(), int64(5), "heartbeats while idle")
}

// The stream ends at the session's deadline (idle here), so the client's
// reconnect finds the expired session gone.
func TestStreamEndsAtSessionDeadline(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{},
		func(c *ginsession.Config) { c.IdleTimeout = 400 * time.Millisecond })
	br := newBrowser(t)
	br.must("POST", a.Srv.URL+"/login/1")
	st, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
	require.Equal(t, 200, code)
	assert.False(t, st.ended(300*time.Millisecond), "open while the session lives")
	assert.True(t, st.ended(3*time.Second), "ended after the deadline")
	_, code, _ = br.openSSE(a.Srv.URL+"/events", nil)
	assert.Equal(t, 401, code, "the reconnect finds the session expired")
}

func TestLastEventID(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	cases := []struct {
		name, header string
		resync       bool
		firstID      int
	}{
		{"fresh", "", false, 1},
		{"reconnect", "41", true, 42},
		{"garbage", "abc", true, 1},
		{"huge", "99999999999999999999999", true, 1},
		{"negative", "-3", true, 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := newBrowser(t)
			br.must("POST", a.Srv.URL+"/login/1")
			h := http.Header{}
			if tc.header != "" {
				h.Set("Last-Event-ID", tc.header)
			}
			st, code, _ := br.openSSE(a.Srv.URL+"/events", h)
			require.Equal(t, 200, code)
			want := tc.firstID
			if tc.resync {
				ev, ok := st.next(time.Second)
				require.True(t, ok)
				assert.Equal(t, "resync", ev.Kind)
				assert.Equal(t, strconv.Itoa(want), ev.ID)
				want++
			}
			br.must("POST", a.Srv.URL+"/platform/"+strconv.Itoa(1+i%2))
			ev, ok := st.next(time.Second)
			require.True(t, ok)
			assert.Equal(t, "platform_switched", ev.Kind)
			assert.Equal(t, strconv.Itoa(want), ev.ID)
		})
	}
}

// Streams that disconnect leave no subscription and no goroutine behind.
func TestNoLeakOnDisconnect(t *testing.T) {
	for _, kind := range []string{"local", "redis"} {
		t.Run(kind, func(t *testing.T) {
			local := live.NewLocalBroker()
			var b store.Broker = local
			if kind == "redis" {
				b = redisBroker(t, testserver.Prefix(t))
			}
			a := newInstance(t, dbFile(t), testapp.Keyring(t), b, live.Options{})
			br := newBrowser(t)
			br.must("POST", a.Srv.URL+"/login/1")
			br.must("GET", a.Srv.URL+"/whoami")
			time.Sleep(50 * time.Millisecond)
			before := runtime.NumGoroutine()

			const n = 20
			var streams []*sse
			for range n {
				st, code, _ := br.openSSE(a.Srv.URL+"/events", nil)
				require.Equal(t, 200, code)
				streams = append(streams, st)
			}
			if kind == "local" {
				assert.Equal(t, 2*n, local.Subscribers(), "a session topic and a user topic per stream")
			}
			during := runtime.NumGoroutine()
			for _, st := range streams {
				st.close()
			}
			br.hc.CloseIdleConnections()
			deadline := time.Now().Add(3 * time.Second)
			settled := func() bool {
				return runtime.NumGoroutine() <= before+2 && (kind != "local" || local.Subscribers() == 0)
			}
			for !settled() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			after := runtime.NumGoroutine()
			t.Logf("goroutines: before %d, with %d streams %d, after %d", before, n, during, after)
			assert.Greater(t, during, before+n, "the streams did run")
			assert.LessOrEqual(t, after, before+2, "goroutines leaked")
			if kind == "local" {
				assert.Zero(t, local.Subscribers())
			}
		})
	}
}

// With Redis frozen, Handle still returns at once: the queue fills, the
// rest is dropped and counted; after the thaw publishing resumes.
func TestPublisherNeverBlocks(t *testing.T) {
	rp := testserver.StartRedis(t)
	c := redis.NewUniversalClient(redisstore.UniversalOptions(rp.Addr))
	t.Cleanup(func() { _ = c.Close() })
	b, err := redisstore.New(c, redisstore.Options{Prefix: testserver.Prefix(t)})
	require.NoError(t, err)
	var mu sync.Mutex
	onDrop := 0
	pub := live.NewPublisher(b, live.PublisherOptions{QueueSize: 4, Timeout: 200 * time.Millisecond,
		OnDrop: func(n int) { mu.Lock(); onDrop += n; mu.Unlock() }})
	defer pub.Close()
	ev := ginsession.Event{Kind: ginsession.EventPlatformSwitched, Session: "AAAAAAAAAAAAAAAAAAAAAA", UserID: "1", Time: time.Now()}
	pub.Handle(ev)
	require.Eventually(t, func() bool { return pub.Published() == 1 }, 2*time.Second, 10*time.Millisecond)

	rp.Freeze()
	t0 := time.Now()
	for range 100 {
		pub.Handle(ev)
	}
	took := time.Since(t0)
	t.Logf("100 Handle calls with Redis frozen: %v; dropped at once %d", took, pub.Dropped())
	assert.Less(t, took, 50*time.Millisecond)
	assert.GreaterOrEqual(t, pub.Dropped(), uint64(100-4-1))
	ev.Kind = ginsession.EventCreated // not a published kind: ignored, not dropped
	pub.Handle(ev)
	ev.Kind = ginsession.EventPlatformSwitched
	rp.Thaw()
	published := pub.Published()
	require.Eventually(t, func() bool {
		pub.Handle(ev)
		return pub.Published() > published
	}, 10*time.Second, 50*time.Millisecond, "publishing resumes after the thaw")
	mu.Lock()
	assert.Equal(t, int(pub.Dropped()), onDrop)
	mu.Unlock()
}

// On the wire there are handles and hashes: never a raw user id or a token.
func TestNothingSecretOnTheWire(t *testing.T) {
	prefix := testserver.Prefix(t)
	spy := testserver.RedisClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := spy.PSubscribe(ctx, prefix+"events:*")
	defer ps.Close()
	_, err := ps.Receive(ctx)
	require.NoError(t, err)
	type seen struct{ channel, payload string }
	var mu sync.Mutex
	var got []seen
	go func() {
		for m := range ps.Channel() {
			mu.Lock()
			got = append(got, seen{m.Channel, m.Payload})
			mu.Unlock()
		}
	}()

	a := newInstance(t, dbFile(t), testapp.Keyring(t), redisBroker(t, prefix), live.Options{})
	br := newBrowser(t)
	const userID = "alice@example.com"
	br.must("POST", a.Srv.URL+"/login/"+userID)
	handle := br.must("GET", a.Srv.URL+"/handle")
	br.must("POST", a.Srv.URL+"/platform/2")
	tokens := []string{}
	for _, part := range strings.Split(br.cookie(a.Srv.URL), "; ") {
		_, v, _ := strings.Cut(part, "=")
		tokens = append(tokens, v, store.KeyFromToken(v))
	}
	br.must("POST", a.Srv.URL+"/logout")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 4 // platform_switched and logout, each on two topics
	}, 2*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	channels := map[string]bool{}
	for _, s := range got {
		channels[s.channel] = true
		for _, secret := range append(tokens, userID) {
			assert.NotContains(t, s.channel, secret)
			assert.NotContains(t, s.payload, secret)
		}
	}
	assert.True(t, channels[prefix+"events:"+live.SessionTopic(handle)], "%v", channels)
	assert.True(t, channels[prefix+"events:"+live.UserTopic(userID)], "%v", channels)
}

func TestStateHandler(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	br := newBrowser(t)
	state := func() (live.State, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", a.Srv.URL+"/state", nil)
		resp, err := br.hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var s live.State
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
		return s, resp.Header.Get("ETag")
	}
	s, _ := state()
	assert.False(t, s.Authenticated)
	assert.Empty(t, s.Session)
	assert.Empty(t, br.cookie(a.Srv.URL), "asking the state creates no session")

	br.must("POST", a.Srv.URL+"/login/1")
	s, etag1 := state()
	assert.True(t, s.Authenticated)
	assert.Equal(t, "1", s.UserID)
	assert.Equal(t, br.must("GET", a.Srv.URL+"/handle"), s.Session)
	assert.Nil(t, s.Platform)

	code, _ := br.do("GET", a.Srv.URL+"/state", http.Header{"If-None-Match": {etag1}})
	assert.Equal(t, 304, code, "unchanged state")

	br.must("POST", a.Srv.URL+"/platform/2")
	s, etag2 := state()
	assert.NotEqual(t, etag1, etag2, "the version follows the platform")
	p, _ := s.Platform.(map[string]any)
	assert.Equal(t, float64(2), p["id"])
	code, _ = br.do("GET", a.Srv.URL+"/state", http.Header{"If-None-Match": {etag1}})
	assert.Equal(t, 200, code)
}

func TestScriptHandler(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{})
	resp, err := http.Get(a.Srv.URL + "/live.js")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	for _, want := range []string{"EventSource", "SessionLive", "platform_switched", "rotated", "logout", "revoked", "evicted"} {
		assert.Contains(t, live.Script, want)
	}
	req, _ := http.NewRequest("GET", a.Srv.URL+"/live.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, 304, resp2.StatusCode)
}

func TestLocalBrokerContract(t *testing.T) {
	b := live.NewLocalBroker()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, "a", "b", "a")
	require.NoError(t, err)
	require.NoError(t, b.Publish(context.Background(), "a", []byte("1")))
	require.NoError(t, b.Publish(context.Background(), "b", []byte("2")))
	require.NoError(t, b.Publish(context.Background(), "c", []byte("3")), "no subscriber is no error")
	assert.Equal(t, "1", string(<-ch))
	assert.Equal(t, "2", string(<-ch))
	select {
	case m := <-ch:
		t.Fatalf("unexpected %q: a topic listed twice is delivered once", m)
	default:
	}
	// A slow reader misses messages; the publisher never waits.
	t0 := time.Now()
	for i := range live.SubscriptionBuffer * 3 {
		require.NoError(t, b.Publish(context.Background(), "a", []byte(fmt.Sprint(i))))
	}
	assert.Less(t, time.Since(t0), 100*time.Millisecond)
	assert.Len(t, ch, live.SubscriptionBuffer)
	cancel()
	require.Eventually(t, func() bool { return b.Subscribers() == 0 }, time.Second, 5*time.Millisecond)
	for range ch { // drained, then closed
	}

	for _, bad := range []string{"", strings.Repeat("x", live.MaxTopicLen+1), "a b", "é", "a\nb"} {
		assert.ErrorIs(t, b.Publish(context.Background(), bad, nil), store.ErrInvalid, "%q", bad)
		_, err := b.Subscribe(context.Background(), bad)
		assert.ErrorIs(t, err, store.ErrInvalid, "%q", bad)
	}
	_, err = b.Subscribe(context.Background())
	assert.ErrorIs(t, err, store.ErrInvalid)
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = b.Subscribe(done, "a")
	assert.Error(t, err)
}

func TestTopics(t *testing.T) {
	assert.Equal(t, "s.abc", live.SessionTopic("abc"))
	u := live.UserTopic("1")
	assert.Len(t, u, 24)
	assert.True(t, strings.HasPrefix(u, "u."))
	assert.NotEqual(t, u, live.UserTopic("2"))
	assert.Equal(t, u, live.UserTopic("1"))
	assert.Len(t, live.UserTopic(strings.Repeat("\x00", 10000)), 24, "any id makes a valid topic")
}
