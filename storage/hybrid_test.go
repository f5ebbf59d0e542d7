package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

func mustPut(t testing.TB, s store.Store, e *store.Entry, prev uint64) {
	t.Helper()
	if err := s.Put(ctxT(t), e, prev); err != nil {
		t.Fatalf("Put(version %d, prev %d): %v", e.Version, prev, err)
	}
}

func wantEntry(t testing.TB, s store.Store, key string, version uint64, payload string, what string) *store.Entry {
	t.Helper()
	e, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("%s: Get: %v", what, err)
	}
	if e.Version != version || string(e.Payload) != payload {
		t.Fatalf("%s: got version %d %q, want %d %q", what, e.Version, e.Payload, version, payload)
	}
	return e
}

func wantGone(t testing.TB, s store.Store, key, what string) {
	t.Helper()
	if e, err := s.Get(ctxT(t), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: Get = %v, %v; want ErrNotFound", what, e, err)
	}
}

func rawClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func rawExists(t testing.TB, c *redis.Client, key string) bool {
	t.Helper()
	n, err := c.Exists(ctxT(t), key).Result()
	if err != nil {
		t.Fatalf("EXISTS: %v", err)
	}
	return n == 1
}

// Redis is killed: calls fail over to SQL without an error, the outage's
// writes and deletes hold, Redis restarts empty, the hybrid store recovers into
// a new generation, and sessions refill it.
func TestHybridRedisKilled(t *testing.T) {
	rp := testserver.StartRedis(t)
	var states stateLog
	o := storage.Options{}
	fastHybrid(&o)
	o.Hybrid.OnStateChange = states.add
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "kill:", DatabaseURL: sqlitePath(t)}, o)
	s, fb := st.Store(), st.Hybrid()
	a, b, c := entry("u1"), entry("u1"), entry("")
	for _, e := range []*store.Entry{a, b, c} {
		mustPut(t, s, e, 0)
	}
	if st.Generation() != 1 || st.RedisPrefix() != "kill:" {
		t.Fatalf("generation %d prefix %q, want 1 and the plain prefix", st.Generation(), st.RedisPrefix())
	}

	rp.Kill(syscall.SIGKILL)
	mustPut(t, s, next(a, "a2"), 1)
	if err := s.Delete(ctxT(t), b.Key); err != nil {
		t.Fatalf("Delete during the outage: %v", err)
	}
	wantEntry(t, s, c.Key, 1, string(c.Payload), "untouched entry during the outage")
	wantEntry(t, s, a.Key, 2, "a2", "entry written during the outage")
	wantGone(t, s, b.Key, "entry deleted during the outage")
	if l, err := s.(store.UserIndex).ListUser(ctxT(t), "u1"); err != nil || len(l) != 1 || l[0].Key != a.Key {
		t.Fatalf("ListUser during the outage: %d entries, %v; want only a", len(l), err)
	}
	if !fb.Engaged() {
		t.Fatal("not engaged after writes failed over")
	}
	if h := st.Health(ctxT(t)); h.Status != "degraded" || h.Redis.State != storage.StateDown || h.Database.State != storage.StateUp {
		t.Errorf("health during the outage: %+v, want degraded with Redis down", h)
	}

	rp.Restart() // empty
	took := eventually(t, 15*time.Second, "recovery", func() bool { return !fb.Engaged() })
	t.Logf("recovered %v after the restart; status %+v", took, fb.Status())
	gen := st.Generation()
	if gen < 2 {
		t.Fatalf("generation %d after an outage with writes, want > 1", gen)
	}
	wantEntry(t, s, a.Key, 2, "a2", "written entry after recovery")
	wantGone(t, s, b.Key, "deleted entry after recovery")
	wantEntry(t, s, c.Key, 1, string(c.Payload), "untouched entry after recovery")
	raw := rawClient(t, rp.Addr)
	prefix := storage.NamespacePrefix("kill:", gen)
	if !rawExists(t, raw, redisstore.KeyName(prefix, a.Key)) || !rawExists(t, raw, redisstore.KeyName(prefix, c.Key)) || rawExists(t, raw, redisstore.KeyName(prefix, b.Key)) {
		t.Errorf("Redis namespace %q after recovery: a %v c %v b %v, want a and c refilled, b absent", prefix,
			rawExists(t, raw, redisstore.KeyName(prefix, a.Key)), rawExists(t, raw, redisstore.KeyName(prefix, c.Key)), rawExists(t, raw, redisstore.KeyName(prefix, b.Key)))
	}
	if got := states.get(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("OnStateChange calls %v, want [true false]", got)
	}
}

// Redis is frozen and comes back holding its old data: the copies it holds
// are older than SQL's and are never served.
func TestHybridRedisFrozenStaleNeverServed(t *testing.T) {
	rp := testserver.StartRedis(t)
	o := storage.Options{}
	fastHybrid(&o)
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "frz:", DatabaseURL: sqlitePath(t)}, o)
	s, fb := st.Store(), st.Hybrid()
	a, b := entry("u"), entry("u")
	mustPut(t, s, a, 0)
	mustPut(t, s, b, 0)

	rp.Freeze()
	t0 := time.Now()
	mustPut(t, s, next(a, "a2"), 1) // meets the freeze, fails over
	firstWrite := time.Since(t0)
	t1 := time.Now()
	a3 := next(next(a, "a2"), "a3")
	mustPut(t, s, a3, 2) // engaged: straight to SQL
	if err := s.Delete(ctxT(t), b.Key); err != nil {
		t.Fatal(err)
	}
	engagedCalls := time.Since(t1)
	t.Logf("first write during the freeze took %v; the next two calls %v", firstWrite, engagedCalls)
	if firstWrite > 2*time.Second || engagedCalls > 500*time.Millisecond {
		t.Errorf("calls during the freeze too slow: first %v, next two %v", firstWrite, engagedCalls)
	}
	rp.Thaw()
	eventually(t, 15*time.Second, "recovery", func() bool { return !fb.Engaged() })

	raw := rawClient(t, rp.Addr)
	old := "frz:"
	if !rawExists(t, raw, redisstore.KeyName(old, b.Key)) || !rawExists(t, raw, redisstore.KeyName(old, a.Key)) {
		t.Fatalf("the thawed Redis should still hold the old copies of a and b in generation 1")
	}
	wantEntry(t, s, a.Key, 3, "a3", "entry rewritten during the freeze")
	wantGone(t, s, b.Key, "entry deleted during the freeze")
	if st.Generation() < 2 {
		t.Fatalf("generation %d, want a new namespace", st.Generation())
	}
}

// Another instance loses Redis (a partition only it sees) and writes SQL
// alone: the healthy instance stops serving its stale Redis copies within
// about two generation intervals.
func TestOtherInstanceOutageIsSeen(t *testing.T) {
	addr := testserver.Redis(t)
	dsn := testserver.Postgres(t)
	prefix := testserver.Prefix(t)
	cut := newCutter(t, addr)
	o := storage.Options{}
	fastHybrid(&o)
	a := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: prefix, DatabaseURL: dsn}, o)
	viaCut, err := url.Parse(redisURL(t)) // keeps REDIS_URL's password and database
	if err != nil {
		t.Fatal(err)
	}
	viaCut.Host = cut.Addr()
	b := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: viaCut.String(), RedisPrefix: prefix, DatabaseURL: dsn}, o)
	s1, s2 := entry("u"), entry("u")
	mustPut(t, a.Store(), s1, 0)
	mustPut(t, a.Store(), s2, 0)
	wantEntry(t, b.Store(), s1.Key, 1, string(s1.Payload), "B reads A's session")

	cut.Cut()
	mustPut(t, b.Store(), next(s1, "from B"), 1)
	if err := b.Store().Delete(ctxT(t), s2.Key); err != nil {
		t.Fatal(err)
	}
	if !b.Hybrid().Engaged() {
		t.Fatal("B not engaged")
	}
	stale := eventually(t, 5*time.Second, "A serves B's write", func() bool {
		e, err := a.Store().Get(ctxT(t), s1.Key)
		return err == nil && e.Version == 2
	})
	wantGone(t, a.Store(), s2.Key, "A after B's delete")
	t.Logf("A served the stale copy for %v after B's write (generation interval %v)", stale, o.Hybrid.GenerationInterval)
	if stale > 10*o.Hybrid.GenerationInterval {
		t.Errorf("stale for %v, want about 2 generation intervals", stale)
	}

	cut.Heal()
	eventually(t, 15*time.Second, "B recovers", func() bool { return !b.Hybrid().Engaged() })
	wantEntry(t, b.Store(), s1.Key, 2, "from B", "B after recovery")
	wantGone(t, b.Store(), s2.Key, "B after recovery")
	eventually(t, 5*time.Second, "A and B on one generation", func() bool { return a.Generation() == b.Generation() })
}

// A secondary holding a version the primary never had (written by an
// instance that could not reach Redis, before the generation moved) is
// detected by the mirror write and adopted; the caller gets ErrConflict and
// its save retries on the adopted copy.
func TestDivergenceAdopted(t *testing.T) {
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: testserver.Prefix(t), DatabaseURL: sqlitePath(t)}, storage.Options{})
	s, fb := st.Store(), st.Hybrid()
	e := entry("u")
	mustPut(t, s, e, 0)
	mustPut(t, fb.Secondary(), next(e, "theirs"), 1)

	err := s.Put(ctxT(t), next(e, "mine"), 1)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put over a diverged secondary: %v, want ErrConflict", err)
	}
	got := wantEntry(t, s, e.Key, 3, "theirs", "after adoption")
	wantEntry(t, fb.Secondary(), e.Key, 3, "theirs", "secondary after adoption")
	if n := fb.Status().Divergences; n != 1 {
		t.Errorf("Divergences = %d, want 1", n)
	}
	mine := next(got, "mine again")
	mustPut(t, s, mine, 3)
	wantEntry(t, fb.Secondary(), e.Key, 4, "mine again", "secondary after the retried save")

	// An ordinary lost race is a conflict without any adoption.
	mustPut(t, s, next(mine, "first"), 4)
	if err := s.Put(ctxT(t), next(mine, "second"), 4); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second save with the same prev: %v, want ErrConflict", err)
	}
	wantEntry(t, s, e.Key, 5, "first", "after the lost race")
	if n := fb.Status().Divergences; n != 1 {
		t.Errorf("Divergences = %d after an ordinary conflict, want still 1", n)
	}
}

// With WriteBehind, acknowledged writes reach SQL from the queue: measure
// the window, and check that a Redis kill right after the writes loses
// none of them (the hybrid store drains a key's queued state before serving it
// from SQL).
func TestWriteBehindWindowAndKill(t *testing.T) {
	rp := testserver.StartRedis(t)
	o := storage.Options{}
	fastHybrid(&o)
	o.Hybrid.WriteBehind = true
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "wb:", DatabaseURL: testserver.Postgres(t)}, o)
	s, fb := st.Store(), st.Hybrid()

	const writers, rounds = 40, 25
	latest := make([]*store.Entry, writers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := entry(fmt.Sprintf("user-%d", w%5))
			if err := s.Put(context.Background(), e, 0); err != nil {
				t.Error(err)
				return
			}
			for r := 1; r < rounds; r++ {
				n := next(e, fmt.Sprintf("w%d r%d", w, r))
				if err := s.Put(context.Background(), n, e.Version); err != nil {
					t.Error(err)
					return
				}
				e = n
			}
			latest[w] = e
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	peak := fb.Status().QueueDepth
	rp.Kill(syscall.SIGKILL)
	for _, e := range latest {
		if e == nil {
			t.FailNow()
		}
		wantEntry(t, s, e.Key, e.Version, string(e.Payload), "latest acknowledged write after the kill")
	}
	eventually(t, 10*time.Second, "queue drained", func() bool { return fb.Status().QueueDepth == 0 })
	for _, e := range latest {
		wantEntry(t, fb.Secondary(), e.Key, e.Version, string(e.Payload), "SQL copy")
	}
	stt := fb.Status()
	t.Logf("write-behind: %d writes in %v; queue depth at kill %d, peak %d; queue-to-SQL lag p50 %v p99 %v max %v (the loss window of a process crash)",
		writers*rounds, elapsed, peak, stt.QueuePeak, stt.LagP50, stt.LagP99, stt.LagMax)
	if stt.Applied == 0 || stt.LagMax == 0 {
		t.Errorf("no queued write measured: %+v", stt)
	}
}

// A revocation during an outage (DeleteUser on SQL alone) stays in force
// after Redis comes back with its old data.
func TestHybridRevokeDuringOutage(t *testing.T) {
	rp := testserver.StartRedis(t)
	o := storage.Options{}
	fastHybrid(&o)
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "rev:", DatabaseURL: sqlitePath(t)}, o)
	s, fb := st.Store(), st.Hybrid()
	ui := s.(store.UserIndex)
	keep, a, b := entry("mallory"), entry("mallory"), entry("mallory")
	for _, e := range []*store.Entry{keep, a, b} {
		mustPut(t, s, e, 0)
	}
	rp.Freeze()
	n, err := ui.DeleteUser(ctxT(t), "mallory", keep.Key)
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser during the outage: %d, %v; want 2, nil", n, err)
	}
	if err := fb.Ping(ctxT(t)); err != nil {
		t.Errorf("Ping during the outage: %v, want nil (the secondary serves)", err)
	}
	rp.Thaw()
	eventually(t, 15*time.Second, "recovery", func() bool { return !fb.Engaged() })
	wantGone(t, s, a.Key, "revoked entry after recovery")
	wantGone(t, s, b.Key, "revoked entry after recovery")
	wantEntry(t, s, keep.Key, 1, string(keep.Payload), "kept entry after recovery")
	l, err := ui.ListUser(ctxT(t), "mallory")
	if err != nil || len(l) != 1 || l[0].Key != keep.Key {
		t.Fatalf("ListUser after recovery: %d entries, %v; want only the kept one", len(l), err)
	}
}

// A read that meets a frozen primary is served by the secondary without
// engaging the hybrid store; FailureThreshold consecutive failed reads engage
// it, and from then on calls do not wait on the primary at all.
func TestBreakerReadThreshold(t *testing.T) {
	rp := testserver.StartRedis(t)
	o := storage.Options{}
	o.Hybrid.FailureThreshold = 3
	o.Hybrid.ProbeInterval = 200 * time.Millisecond
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "brk:", DatabaseURL: sqlitePath(t)}, o)
	s, fb := st.Store(), st.Hybrid()
	e := entry("u")
	mustPut(t, s, e, 0)
	rp.Freeze()
	defer rp.Thaw()
	for i := 1; i <= 3; i++ {
		t0 := time.Now()
		wantEntry(t, s, e.Key, 1, string(e.Payload), fmt.Sprintf("read %d during the freeze", i))
		took := time.Since(t0)
		st := fb.Status()
		t.Logf("read %d: %v, engaged %v, breaker %s", i, took, st.Engaged, st.Breaker)
		if i < 3 && st.Engaged {
			t.Fatalf("engaged after %d failed reads, want the threshold of 3", i)
		}
		if took < 100*time.Millisecond {
			t.Errorf("read %d took %v: it should have waited on the frozen primary", i, took)
		}
	}
	eventually(t, time.Second, "engaged", fb.Engaged)
	t0 := time.Now()
	wantEntry(t, s, e.Key, 1, string(e.Payload), "read while engaged")
	if took := time.Since(t0); took > 100*time.Millisecond {
		t.Errorf("read while engaged took %v: it waited on the primary", took)
	}
}

// Hybrid starts while Redis is down: sessions are served from SQL at once,
// and Redis takes over when it comes up. Redis mode refuses to start
// without Redis, naming the variable.
func TestStartWithRedisDown(t *testing.T) {
	rp := testserver.StartRedis(t)
	rp.Kill(syscall.SIGKILL)
	o := storage.Options{}
	fastHybrid(&o)
	cfg := storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "down:", DatabaseURL: sqlitePath(t)}
	st := open(t, cfg, o)
	s, fb := st.Store(), st.Hybrid()
	e := entry("u")
	mustPut(t, s, e, 0)
	mustPut(t, s, next(e, "v2"), 1)
	wantEntry(t, s, e.Key, 2, "v2", "served from SQL with Redis down at start")
	if !fb.Engaged() {
		t.Fatal("not engaged with Redis down")
	}
	rp.Restart()
	eventually(t, 15*time.Second, "recovery", func() bool { return !fb.Engaged() })
	wantEntry(t, s, e.Key, 2, "v2", "after Redis came up")
	if !rawExists(t, rawClient(t, rp.Addr), redisstore.KeyName(st.RedisPrefix(), e.Key)) {
		t.Error("the session was not refilled into Redis")
	}

	rp.Kill(syscall.SIGKILL)
	_, err := storage.Open(ctxT(t), storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://" + rp.Addr, RedisPrefix: "down:"}, storage.Options{Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("redis mode with Redis down: %v, want an error naming REDIS_URL", err)
	}
}
