package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/bench"
	"github.com/vedfolnir/sessions/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// route is one timed route: its method, its target for iteration i, and
// whether it is sent with the session cookie (login is not: every
// iteration creates a new session).
type route struct {
	name   string
	method string
	target func(i int) string
	cookie bool
}

var routes = []route{
	{"login", http.MethodPost, func(int) string { return bench.PathLogin }, false},
	{"read", http.MethodGet, func(int) string { return bench.PathRead }, true},
	{"write", http.MethodPost, func(i int) string { return bench.PathWrite + "?v=" + strconv.Itoa(i) }, true},
	{"untouched", http.MethodGet, func(int) string { return bench.PathUntouched }, true},
}

// suite is every implementation built on one dedicated redis-server, so
// that INFO commandstats and MEMORY USAGE see nobody else's traffic.
type suite struct {
	rdb     *goredis.Client
	apps    []*bench.App
	cookies map[string][]string // per implementation: live sessions to drive
	bytes   map[string][2]int64 // per implementation: Redis bytes of one fresh session (session key, all keys)
}

// newSuite builds the named implementations, checks each one really stores
// and reads its session (failing tb otherwise), measures the Redis bytes of
// a fresh seed-shaped session, and logs in sessions clients to drive.
func newSuite(tb testing.TB, names []string, sessions int) *suite {
	tb.Helper()
	rp := testserver.StartRedis(tb)
	rdb := goredis.NewClient(&goredis.Options{Addr: rp.Addr})
	tb.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	s := &suite{rdb: rdb, cookies: map[string][]string{}, bytes: map[string][2]int64{}}
	env := bench.Env{RedisAddr: rp.Addr, Dir: tb.TempDir()}
	for _, name := range names {
		a, err := bench.Build(name, env)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = a.Close() })
		s.apps = append(s.apps, a)
		// The first login of the implementation: its session is measured
		// once the others are made, so that ours' index bucket (every
		// session here is user 1's) counts for its share.
		first, err := bench.Login(a, a.Doer())
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if err := bench.Verify(ctx, a, nil, rdb); err != nil {
			tb.Fatal(err)
		}
		for range sessions {
			ck, err := bench.Login(a, a.Doer())
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			s.cookies[name] = append(s.cookies[name], ck)
		}
		if a.Redis && bench.HasSession(name) {
			keys, err := a.SessionKeys(first, bench.SeedUserID)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			all, err := bench.MemoryUsage(ctx, rdb, keys...)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			one, err := bench.MemoryUsage(ctx, rdb, keys[0])
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			s.bytes[name] = [2]int64{one, all}
		}
	}
	return s
}

// serve runs one request of rt for iteration i and fails on anything but 200.
func serve(tb testing.TB, a *bench.App, rt route, i int, cookie string) {
	req := httptest.NewRequest(rt.method, rt.target(i), nil)
	if rt.cookie && cookie != "" {
		req.Header.Set("Cookie", a.CookieName+"="+cookie)
	}
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("%s %s: %d %q", rt.method, req.URL, rec.Code, rec.Body.String())
	}
}

// counters snapshots what a measured window is judged by.
type counters struct {
	rt   int64
	cmds map[string]int64
}

func (s *suite) snapshot(tb testing.TB, a *bench.App) counters {
	cmds, err := bench.CommandStats(context.Background(), s.rdb)
	if err != nil {
		tb.Fatal(err)
	}
	return counters{rt: a.RoundTrips(), cmds: cmds}
}

// report adds the Redis metrics of a window of n requests.
func (s *suite) report(b *testing.B, a *bench.App, before counters, n int) {
	if !a.Redis || n == 0 {
		return
	}
	after := s.snapshot(b, a)
	cmds, _ := bench.CommandDelta(before.cmds, after.cmds)
	b.ReportMetric(float64(after.rt-before.rt)/float64(n), "rtt/op")
	b.ReportMetric(float64(cmds)/float64(n), "cmds/op")
}

// benchSuite builds the suite of a top-level benchmark: every
// implementation, with 64 sessions each to drive.
func benchSuite(b *testing.B) *suite { return newSuite(b, bench.Names, 64) }

// BenchmarkRoutes times each route of each implementation, one request at a
// time, in-process (httptest.NewRecorder, the session cookie pre-made).
// Metrics beyond the usual: rtt/op, Redis round trips per request, and
// cmds/op, Redis commands per request from INFO commandstats (commands run
// by Lua scripts included); for login, redis-B/session, the MEMORY USAGE of
// a fresh session's keys (ours: with its user index).
func BenchmarkRoutes(b *testing.B) {
	s := benchSuite(b)
	for _, rt := range routes {
		b.Run(rt.name, func(b *testing.B) {
			for _, a := range s.apps {
				b.Run(a.Name, func(b *testing.B) {
					cookie := ""
					if c := s.cookies[a.Name]; len(c) > 0 {
						cookie = c[0]
					}
					b.ReportAllocs()
					before := s.snapshot(b, a)
					n := 0
					for b.Loop() {
						serve(b, a, rt, n, cookie)
						n++
					}
					s.report(b, a, before, n)
					if sz, ok := s.bytes[a.Name]; ok && rt.name == "login" {
						b.ReportMetric(float64(sz[1]), "redis-B/session")
					}
				})
			}
		})
	}
}

// BenchmarkRoutesParallel is BenchmarkRoutes with RunParallel: 16
// goroutines per GOMAXPROCS, each driving its own session.
func BenchmarkRoutesParallel(b *testing.B) {
	s := benchSuite(b)
	for _, rt := range routes {
		b.Run(rt.name, func(b *testing.B) {
			for _, a := range s.apps {
				b.Run(a.Name, func(b *testing.B) {
					cookies := s.cookies[a.Name]
					var next atomic.Int64
					b.ReportAllocs()
					b.SetParallelism(16)
					before := s.snapshot(b, a)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						cookie := ""
						if len(cookies) > 0 {
							cookie = cookies[int(next.Add(1))%len(cookies)]
						}
						i := 0
						for pb.Next() {
							serve(b, a, rt, i, cookie)
							i++
						}
					})
					b.StopTimer()
					s.report(b, a, before, b.N)
				})
			}
		})
	}
}

// TestBenchSmoke runs the benchmark code briefly so CI keeps it working:
// every implementation passes its correctness check, and every route
// answers 200 a few times. It logs round trips, commands and bytes per
// session.
func TestBenchSmoke(t *testing.T) {
	s := newSuite(t, bench.Names, 2)
	const n = 5
	for _, a := range s.apps {
		line := fmt.Sprintf("%-12s", a.Name)
		for _, rt := range routes {
			cookie := ""
			if c := s.cookies[a.Name]; len(c) > 0 {
				cookie = c[0]
			}
			serve(t, a, rt, 0, cookie) // warm: connections, script cache
			before := s.snapshot(t, a)
			for i := range n {
				serve(t, a, rt, i+1, cookie)
			}
			after := s.snapshot(t, a)
			cmds, _ := bench.CommandDelta(before.cmds, after.cmds)
			rtt := float64(after.rt-before.rt) / n
			line += fmt.Sprintf("  %s %.1f rtt %.1f cmds", rt.name, rtt, float64(cmds)/n)
			if a.Redis && rt.name == "read" && rtt < 1 {
				t.Errorf("%s: read made %.1f round trips per request: it does not reach Redis", a.Name, rtt)
			}
		}
		if sz, ok := s.bytes[a.Name]; ok {
			line += fmt.Sprintf("  session %d B (all keys %d B)", sz[0], sz[1])
		}
		t.Log(line)
	}
}
