package storage_test

import (
	"bytes"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/storage"
)

// startFaultApp serves the middleware on a hybrid storage with the
// library's default hybrid settings.
func startFaultApp(t *testing.T, redisAddr, databaseURL string) *app {
	t.Helper()
	env := map[string]string{
		"SESSION_STORAGE": "hybrid", "REDIS_URL": "redis://" + redisAddr,
		"REDIS_SESSION_PREFIX": "fault:", "DATABASE_URL": databaseURL,
	}
	a := startApp(t, env, testapp.Keyring(t), storage.Options{Logger: quiet})
	t.Cleanup(func() { a.stop(t) })
	return a
}

// checkRedisRefilled uses every browser's session once more after the
// hybrid store has recovered, and fails unless Redis then holds each of them in
// the namespace in use.
func checkRedisRefilled(t *testing.T, a *app, addr string, r *loadRun) {
	t.Helper()
	eventually(t, 30*time.Second, "recovered", func() bool { return !a.st.Hybrid().Engaged() })
	for i, b := range r.browsers {
		if code, body := b.do(a, "GET", "/v/id"); code != 200 || body != "browser-"+strconv.Itoa(i) {
			t.Errorf("browser %d after recovery: %d %q", i, code, body)
		}
	}
	raw := rawClient(t, addr)
	prefix := a.st.RedisPrefix()
	missing := 0
	for _, b := range r.browsers {
		if !rawExists(t, raw, redisstore.KeyName(prefix, b.key(a))) {
			missing++
		}
	}
	t.Logf("Redis namespace %q holds %d of %d sessions after recovery", a.st.RedisPrefix(), len(r.browsers)-missing, len(r.browsers))
	if missing > 0 {
		t.Errorf("%d sessions used after recovery are not in Redis", missing)
	}
}

func checkFallbackEvents(t *testing.T, a *app) {
	t.Helper()
	e, r := a.events.get(ginsession.EventFallbackEngaged), a.events.get(ginsession.EventFallbackRecovered)
	if e < 1 || r != e {
		t.Errorf("events: %d fallback_engaged, %d fallback_recovered; want at least one of each, paired", e, r)
	}
}

// SIGKILL the redis-server under load and restart it empty 2 s later: no
// 5xx, no session or acknowledged write lost, and Redis serves the sessions
// again afterwards. It runs with SQLite and with MariaDB as the secondary.
func TestFaultRedisKilled(t *testing.T) {
	for _, secondary := range []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"sqlite", sqlitePath},
		{"mysql", testserver.MySQL},
	} {
		t.Run(secondary.name, func(t *testing.T) { faultRedisKilled(t, secondary.url(t)) })
	}
}

func faultRedisKilled(t *testing.T, databaseURL string) {
	sh := shape()
	rp := testserver.StartRedis(t)
	a := startFaultApp(t, rp.Addr, databaseURL)
	fb := a.st.Hybrid()
	r := load(t, a, sh)

	time.Sleep(sh.before)
	tKill := r.since()
	rp.Kill(syscall.SIGKILL)
	time.Sleep(2 * time.Second)
	tRestart := r.since()
	rp.Restart()
	eventually(t, 30*time.Second, "recovery", func() bool { return !fb.Engaged() })
	tRecovered := r.since()
	time.Sleep(sh.after)
	r.finish()

	st := fb.Status()
	r.report(t, map[string]time.Duration{
		"killed at": tKill, "restarted (empty) at": tRestart, "recovered at": tRecovered,
		"time to recover": tRecovered - tRestart, "outage as served": tRecovered - tKill,
	}, r.window("before", 0, tKill), r.window("outage", tKill, tRecovered), r.window("after", tRecovered, 1<<62))
	t.Logf("hybrid: generation %d, failovers %d, engagements %d, refills %d, queue peak %d",
		st.Generation, st.Failovers, st.Engagements, st.Refills, st.QueuePeak)
	if st.Generation < 2 {
		t.Errorf("generation %d after an outage with writes, want a new namespace", st.Generation)
	}
	checkRedisRefilled(t, a, rp.Addr, r)
	checkFallbackEvents(t, a)
}

// SIGSTOP the redis-server for 3 s under load: no 5xx, nothing lost, and
// the latency during the freeze stays near Redis's fail-fast timeout.
func TestFaultRedisFrozen(t *testing.T) {
	sh := shape()
	rp := testserver.StartRedis(t)
	a := startFaultApp(t, rp.Addr, sqlitePath(t))
	fb := a.st.Hybrid()
	r := load(t, a, sh)

	time.Sleep(sh.before)
	tFreeze := r.since()
	rp.Freeze()
	time.Sleep(3 * time.Second)
	tThaw := r.since()
	rp.Thaw()
	eventually(t, 30*time.Second, "recovery", func() bool { return !fb.Engaged() })
	tRecovered := r.since()
	time.Sleep(sh.after)
	r.finish()

	before := r.window("before", 0, tFreeze)
	frozen := r.window("frozen", tFreeze, tThaw)
	first := r.window("first 1s", tFreeze, tFreeze+time.Second)
	engaged := r.window("engaged", tFreeze+time.Second, tThaw)
	r.report(t, map[string]time.Duration{
		"frozen at": tFreeze, "thawed at": tThaw, "recovered at": tRecovered, "time to recover": tRecovered - tThaw,
	}, before, first, frozen, engaged, r.window("thawing", tThaw, tRecovered), r.window("after", tRecovered, 1<<62))
	st := fb.Status()
	t.Logf("hybrid: generation %d, failovers %d, engagements %d, refills %d", st.Generation, st.Failovers, st.Engagements, st.Refills)
	// The goal is a p99 under 300 ms once the breaker is open. The first
	// second is the engagement: every request in flight waits out Redis's
	// fail-fast timeout before the breaker trips, so it is bounded by the
	// max only. What must never happen is a request waiting out go-redis's
	// default timeouts (5-10 s) or the store timeout (3 s). The bounds
	// allow for a loaded CI machine running the race detector, where
	// everything is slower, the fault or not.
	// Under the race detector the breaker-open p99 is SQLite's throughput
	// on a loaded 2-core machine (p50 ~150 ms at 200 browsers), not the design.
	floor := time.Second
	if raceEnabled {
		floor = 2 * time.Second
	}
	limit := max(floor, 3*before.p99)
	if frozen.max > 2*limit {
		t.Errorf("latency during the freeze: max %v; want under %v (no request waits out a store timeout)", frozen.max, 2*limit)
	}
	if engaged.p99 > limit {
		t.Errorf("latency with the breaker open: p99 %v; want under %v (goal 300ms)", engaged.p99, limit)
	}
	checkRedisRefilled(t, a, rp.Addr, r)
	checkFallbackEvents(t, a)
}

// Stop PostgreSQL for 3 s under hybrid load: Redis keeps serving (no 5xx,
// nothing lost), the mirror queues, and catches up after: SQL holds every
// session at Redis's version.
func TestFaultPostgresStopped(t *testing.T) {
	sh := shape()
	rp := testserver.StartRedis(t)
	pp := testserver.StartPostgres(t)
	a := startFaultApp(t, rp.Addr, pp.DSN)
	fb := a.st.Hybrid()
	r := load(t, a, sh)

	time.Sleep(sh.before)
	tStop := r.since()
	pp.Stop()
	tStopped := r.since()
	time.Sleep(3 * time.Second)
	tStart := r.since()
	pp.Start()
	tStarted := r.since()
	eventually(t, 60*time.Second, "mirror caught up", func() bool {
		st := fb.Status()
		return st.QueueDepth == 0 && !st.MirrorDown
	})
	tCaughtUp := r.since()
	time.Sleep(sh.after)
	r.finish()

	st := fb.Status()
	r.report(t, map[string]time.Duration{
		"stop at": tStop, "stopped at": tStopped, "start at": tStart, "accepting at": tStarted,
		"caught up at": tCaughtUp, "time to catch up": tCaughtUp - tStarted,
	}, r.window("before", 0, tStop), r.window("db down", tStop, tStarted), r.window("catch-up", tStarted, tCaughtUp),
		r.window("after", tCaughtUp, 1<<62))
	t.Logf("mirror: queue peak %d, applied %d, dropped %d, refused %d, lag p50 %v p99 %v max %v; engagements %d, failovers %d",
		st.QueuePeak, st.Applied, st.Dropped, st.MirrorErrors, st.LagP50, st.LagP99, st.LagMax, st.Engagements, st.Failovers)
	if st.QueuePeak == 0 || st.Dropped != 0 {
		t.Errorf("queue peak %d, dropped %d: want writes queued during the stop and none dropped", st.QueuePeak, st.Dropped)
	}
	eventually(t, 10*time.Second, "queue empty after the load", func() bool { return fb.Status().QueueDepth == 0 })
	behind := 0
	for _, b := range r.browsers {
		k := b.key(a)
		p, perr := fb.Primary().Get(ctxT(t), k)
		s, serr := fb.Secondary().Get(ctxT(t), k)
		if perr != nil || serr != nil || p.Version != s.Version || !bytes.Equal(p.Payload, s.Payload) || !p.IdleDeadline.Equal(s.IdleDeadline) {
			behind++
			if behind <= 3 {
				t.Logf("session %.8s: Redis %v %v, SQL %v %v", k, p, perr, s, serr)
			}
		}
	}
	if behind > 0 {
		t.Errorf("%d of %d sessions differ between SQL and Redis after the catch-up", behind, len(r.browsers))
	}
}
