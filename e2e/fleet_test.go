package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// fleet is N instances of the reference app, each its own process, on one
// Redis and one PostgreSQL, sharing a key ring and a prefix, as a fleet
// behind a balancer runs.
type fleet struct {
	redis *testserver.RedisProc
	apps  []*app
	// front, when set, is a balancer in front of apps: clients then send
	// every request to it.
	front string
}

func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	rp := testserver.StartRedis(t)
	f := startFleetOn(t, n, "redis://"+rp.Addr)
	f.redis = rp
	return f
}

// startFleetOn starts n instances on the Redis of redisURL.
func startFleetOn(t *testing.T, n int, redisURL string) *fleet {
	t.Helper()
	bin := exampleBinary(t)
	vars := map[string]string{
		"SESSION_STORAGE":         "hybrid",
		"REDIS_URL":               redisURL,
		"REDIS_SESSION_PREFIX":    testserver.Prefix(t),
		"DATABASE_URL":            testserver.Postgres(t),
		"SESSION_ENCRYPTION_KEYS": store.GenerateKey(),
		"SESSION_COOKIE_SECURE":   "false",
	}
	f := &fleet{}
	for range n {
		f.apps = append(f.apps, startApp(t, bin, vars))
	}
	return f
}

// The fleet tests' size: short in CI (3 instances, 12 clients, 12-16 s);
// FLEET_INSTANCES, FLEET_CLIENTS and FLEET_DURATION (a Go duration) make
// the longer runs on demand, e.g.
//
//	FLEET_INSTANCES=5 FLEET_CLIENTS=100 FLEET_DURATION=60s go test -run Fleet -v ./...
func fleetInstances(t *testing.T) int { return envInt(t, "FLEET_INSTANCES", 3) }
func fleetClients(t *testing.T) int   { return envInt(t, "FLEET_CLIENTS", 12) }
func fleetDuration(t *testing.T, def time.Duration) time.Duration {
	v := os.Getenv("FLEET_DURATION")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 4*time.Second {
		t.Fatalf("FLEET_DURATION=%q: want a duration of 4s or more", v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// fleetClient is one browser: a cookie jar shared by every instance
// (cookies are per host, not per port), its CSRF token, and the last value
// an instance acknowledged.
type fleetClient struct {
	hc    *http.Client
	csrf  string
	acked int
}

func newFleetClient(t *testing.T, base string) *fleetClient {
	jar, _ := cookiejar.New(nil)
	c := &fleetClient{hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	resp, err := c.hc.Get(base + "/api/session")
	if err != nil {
		t.Fatalf("GET /api/session: %v", err)
	}
	defer resp.Body.Close()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.CSRF == "" {
		t.Fatalf("GET /api/session: %d, no csrf_token (%v)", resp.StatusCode, err)
	}
	c.csrf = s.CSRF
	return c
}

// put writes v as the "n" preference through base; it returns the status.
func (c *fleetClient) put(base string, v int) int {
	req, _ := http.NewRequest("PUT", base+"/api/prefs/n", bytes.NewReader([]byte(strconv.Itoa(v))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// get reads the "n" preference through base.
func (c *fleetClient) get(base string) (int, int) {
	resp, err := c.hc.Get(base + "/api/prefs/n")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, _ := strconv.Atoi(string(bytes.TrimSpace(body)))
	return resp.StatusCode, v
}

// fleetFigures are what one run measures; every one should be 0.
type fleetFigures struct {
	acked, failedWrites, fivexx, lostSessions, staleReads, lostAcked atomic.Int64
	mu                                                               sync.Mutex
	examples                                                         []string
}

// require fails t unless writes were acknowledged and every figure that
// must be 0 is.
func (f *fleetFigures) require(t *testing.T) {
	t.Helper()
	for _, e := range f.examples {
		t.Log("  " + e)
	}
	if f.acked.Load() == 0 {
		t.Fatal("no write was acknowledged")
	}
	for name, v := range map[string]int64{"5xx": f.fivexx.Load(), "lost sessions": f.lostSessions.Load(),
		"stale reads": f.staleReads.Load(), "lost acked writes": f.lostAcked.Load(), "failed writes": f.failedWrites.Load()} {
		if v != 0 {
			t.Errorf("%s: %d, want 0", name, v)
		}
	}
}

func (f *fleetFigures) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.examples) < 10 {
		f.examples = append(f.examples, fmt.Sprintf(format, args...))
	}
}

// run drives clients for d: each writes an increasing counter through one
// instance and reads it back through the next, so every read is a
// cross-instance read of a write some instance acknowledged. fault runs
// once, concurrently, when the traffic has started.
func (fl *fleet) run(t *testing.T, clients int, d time.Duration, fault func()) *fleetFigures {
	t.Helper()
	fig := &fleetFigures{}
	cs := make([]*fleetClient, clients)
	for i := range cs {
		cs[i] = newFleetClient(t, fl.base(i))
	}
	stop := make(chan struct{})
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(time.Millisecond) }
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				w, r := fl.base(i+k), fl.base(i+k+1)
				switch code := c.put(w, k); {
				case code == http.StatusNoContent:
					c.acked = k
					fig.acked.Add(1)
				case code >= 500 || code == 0:
					fig.fivexx.Add(1)
					fig.failedWrites.Add(1)
				default:
					fig.failedWrites.Add(1)
					fig.note("client %d: write %d through %s: %d", i, k, w, code)
				}
				code, v := c.get(r)
				switch {
				case code == http.StatusOK && v < c.acked:
					fig.staleReads.Add(1)
					fig.note("client %d at %v: last acked %d (this round wrote through %s), read %d through %s", i, since(), c.acked, w, v, r)
				case code == http.StatusNotFound && c.acked > 0:
					fig.lostSessions.Add(1)
					fig.note("client %d: session lost after write %d (read through %s)", i, c.acked, r)
				case code >= 500 || code == 0:
					fig.fivexx.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(d / 4)
	t.Logf("fault begins at %v", since())
	fault()
	t.Logf("fault script done at %v", since())
	time.Sleep(d - d/4)
	close(stop)
	wg.Wait()
	// Settled: every instance returns every client's last acknowledged write.
	time.Sleep(500 * time.Millisecond)
	for i, c := range cs {
		for _, a := range fl.apps {
			if code, v := c.get(a.base); code != http.StatusOK || v != c.acked {
				fig.lostAcked.Add(1)
				fig.note("client %d: after settling %s answers %d %d, last acked %d", i, a.base, code, v, c.acked)
			}
		}
	}
	return fig
}

// base is where request k of a client goes: the balancer, or the
// instances in turn.
func (fl *fleet) base(k int) string {
	if fl.front != "" {
		return fl.front
	}
	return fl.apps[k%len(fl.apps)].base
}

// waitHealthy polls every instance's health report until each says "ok",
// and returns how long that took.
func (fl *fleet) waitHealthy(t *testing.T, limit time.Duration) time.Duration {
	t0 := time.Now()
	for _, a := range fl.apps {
		for {
			var last []byte
			resp, err := http.Get(a.healthURL())
			if err == nil {
				var h struct {
					Status string `json:"status"`
				}
				last, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = json.Unmarshal(last, &h)
				if h.Status == "ok" {
					break
				}
			}
			if time.Since(t0) > limit {
				t.Errorf("%s not healthy %v after the fault: %s", a.base, limit, last)
				return time.Since(t0)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(t0)
}

// Three instances in hybrid mode on one Redis, through a Redis outage
// (killed and restarted empty, or frozen), while clients write through one
// instance and read through the next: no 5xx, no lost session, no lost
// acknowledged write, no instance serving a copy older than a write
// another instance acknowledged, and every instance healthy within 3 s.
func TestFleetRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(rp *testserver.RedisProc)
	}{
		{"killed, restarted empty", func(rp *testserver.RedisProc) {
			rp.Kill(syscall.SIGKILL)
			time.Sleep(3 * time.Second)
			rp.Restart()
		}},
		{"frozen", func(rp *testserver.RedisProc) {
			rp.Freeze()
			time.Sleep(3 * time.Second)
			rp.Thaw()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := startFleet(t, fleetInstances(t))
			var recovered time.Duration
			fig := fl.run(t, fleetClients(t), fleetDuration(t, 12*time.Second), func() {
				tc.fault(fl.redis)
				recovered = fl.waitHealthy(t, 10*time.Second)
			})
			t.Logf("acked writes %d, failed writes %d, 5xx %d, lost sessions %d, stale cross-instance reads %d, lost acked writes %d, recovered %v after the fault ended",
				fig.acked.Load(), fig.failedWrites.Load(), fig.fivexx.Load(), fig.lostSessions.Load(), fig.staleReads.Load(), fig.lostAcked.Load(), recovered.Round(time.Millisecond))
			fig.require(t)
			if recovered > 3*time.Second {
				t.Errorf("recovered %v after the fault ended, want < 3 s", recovered)
			}
		})
	}
}

// Three instances on a Redis Cluster of 3 masters with a replica each,
// through a coordinated failover (CLUSTER FAILOVER on a replica) and then
// a master killed and replaced by its replica, under load: no 5xx, no lost
// session, no lost acknowledged write, no stale cross-instance read.
func TestFleetClusterFailover(t *testing.T) {
	cs := testserver.StartRedisClusterHA(t)
	addrs := cs.Addrs()
	u := "redis+cluster://" + addrs[0]
	for i, a := range addrs[1:] {
		if i == 0 {
			u += "?addr=" + a
		} else {
			u += "&addr=" + a
		}
	}
	fl := startFleetOn(t, fleetInstances(t), u)
	var recovered time.Duration
	fig := fl.run(t, fleetClients(t), fleetDuration(t, 16*time.Second), func() {
		t0 := time.Now()
		cs.Failover(cs.Replicas[0])
		t.Logf("coordinated failover of %s to %s took %v", cs.Masters[0], cs.Replicas[0], time.Since(t0).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		t0 = time.Now()
		cs.Kill(cs.Masters[1])
		cs.WaitPromoted(cs.Replicas[1])
		t.Logf("killed master %s: %s promoted after %v", cs.Masters[1], cs.Replicas[1], time.Since(t0).Round(time.Millisecond))
		recovered = fl.waitHealthy(t, 15*time.Second)
	})
	t.Logf("acked writes %d, failed writes %d, 5xx %d, lost sessions %d, stale cross-instance reads %d, lost acked writes %d, healthy %v after the promotion",
		fig.acked.Load(), fig.failedWrites.Load(), fig.fivexx.Load(), fig.lostSessions.Load(), fig.staleReads.Load(), fig.lostAcked.Load(), recovered.Round(time.Millisecond))
	fig.require(t)
	if recovered > 3*time.Second {
		t.Errorf("healthy %v after the promotion, want < 3 s", recovered)
	}
}

// The same outage with nginx round-robin in front of the three instances:
// clients know only the balancer.
func TestFleetBehindNginx(t *testing.T) {
	fl := startFleet(t, fleetInstances(t))
	var ups []string
	for _, a := range fl.apps {
		ups = append(ups, strings.TrimPrefix(a.base, "http://"))
	}
	fl.front = "http://" + testserver.StartNginx(t, ups...)
	var recovered time.Duration
	fig := fl.run(t, fleetClients(t), fleetDuration(t, 12*time.Second), func() {
		fl.redis.Kill(syscall.SIGKILL)
		time.Sleep(3 * time.Second)
		fl.redis.Restart()
		recovered = fl.waitHealthy(t, 10*time.Second)
	})
	t.Logf("through nginx: acked writes %d, failed writes %d, 5xx %d, lost sessions %d, stale reads %d, lost acked writes %d, recovered %v after the restart",
		fig.acked.Load(), fig.failedWrites.Load(), fig.fivexx.Load(), fig.lostSessions.Load(), fig.staleReads.Load(), fig.lostAcked.Load(), recovered.Round(time.Millisecond))
	fig.require(t)
}
