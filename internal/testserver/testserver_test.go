package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

// recTB records Skipf and Fatalf instead of ending the real test, so the
// skip-or-fail policy can be checked. Like the real ones, both end the
// calling goroutine: run it with runTB.
type recTB struct {
	testing.TB
	skipped, failed string
}

func (r *recTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runTB(t *testing.T, f func(tb testing.TB)) *recTB {
	r := &recTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, req string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"false", "0", false},
		{"no", "yes", true},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("REQUIRE_SERVICES", c.req)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q REQUIRE_SERVICES=%q: Required() = %v, want %v", c.ci, c.req, got, c.want)
		}
	}
}

func TestUnavailableSkipsOrFails(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("REQUIRE_SERVICES", "")
	r := runTB(t, func(tb testing.TB) { Unavailable(tb, "no %s here", "redis") })
	if r.skipped != "testserver: no redis here" || r.failed != "" {
		t.Errorf("without CI: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}
	t.Setenv("REQUIRE_SERVICES", "1")
	r = runTB(t, func(tb testing.TB) { Unavailable(tb, "no %s here", "redis") })
	if r.skipped != "" || !strings.Contains(r.failed, "no redis here") || !strings.Contains(r.failed, "REQUIRE_SERVICES") {
		t.Errorf("with REQUIRE_SERVICES: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}

func TestMissingBinarySkips(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("REQUIRE_SERVICES", "")
	t.Setenv("PATH", t.TempDir())
	r := runTB(t, func(tb testing.TB) { StartRedis(tb) })
	if !strings.Contains(r.skipped, "install it (apt-get install redis-server)") {
		t.Errorf("StartRedis without redis-server: skipped %q, failed %q", r.skipped, r.failed)
	}
	r = runTB(t, func(tb testing.TB) { Sentinel(tb) })
	if !strings.Contains(r.skipped, "redis-server not found") {
		t.Errorf("Sentinel without redis-server: skipped %q, failed %q", r.skipped, r.failed)
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	p := Prefix(t)
	if !regexp.MustCompile(`^t[a-z0-9]+x[a-z0-9]+:$`).MatchString(p) {
		t.Fatalf("Prefix = %q: not of the form t<tag>x<n>:", p)
	}
	if again := Prefix(t); again != p {
		t.Errorf("second Prefix(t) = %q, want %q", again, p)
	}
	seen := map[string]bool{p: true}
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			sp := Prefix(t)
			if seen[sp] {
				t.Errorf("subtest prefix %q not unique", sp)
			}
			seen[sp] = true
		})
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addr := Redis(t)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("Redis = %q: %v", addr, err)
	}
	rdb := RedisClient(t)
	k := Prefix(t) + "k"
	if err := rdb.Set(ctx, k, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, k).Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if os.Getenv("REDIS_URL") == "" {
		if err := rdb.Do(ctx, "DEBUG", "SLEEP", "0").Err(); err != nil {
			t.Errorf("DEBUG SLEEP 0 on the started server: %v", err)
		}
	}
	if again := Redis(t); again != addr {
		t.Errorf("second Redis = %q, want the shared %q", again, addr)
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addrs := RedisCluster(t)
	if len(addrs) < 3 {
		t.Fatalf("RedisCluster = %v: want 3 masters", addrs)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.ClusterInfo(ctx).Result()
		c.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Fatalf("%s: CLUSTER INFO: %v\n%s", a, err, info)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	p := Prefix(t)
	// The hash tags put the keys in slots 15495, 3300 and 7365: one per
	// master of the cluster this package starts.
	keys := []string{p + "{a}", p + "{b}", p + "{c}"}
	_, err := cc.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range keys {
			pipe.Set(ctx, k, k, time.Minute)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cross-slot pipelined SET: %v", err)
	}
	var gets []*redis.StringCmd
	if _, err := cc.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range keys {
			gets = append(gets, pipe.Get(ctx, k))
		}
		return nil
	}); err != nil {
		t.Fatalf("cross-slot pipelined GET: %v", err)
	}
	for i, g := range gets {
		if g.Val() != keys[i] {
			t.Errorf("GET %s = %q", keys[i], g.Val())
		}
	}
	if os.Getenv("REDIS_CLUSTER_ADDRS") == "" {
		nodes := map[string]bool{}
		for _, k := range keys {
			m, err := cc.MasterForKey(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			nodes[m.Options().Addr] = true
		}
		if len(nodes) != 3 {
			t.Errorf("keys landed on %d masters, want 3: %v", len(nodes), nodes)
		}
	}
}

// failFast is client options that give up at once, so fault tests stay fast.
func failFast(addr string) *redis.Options {
	return &redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond, PoolTimeout: 300 * time.Millisecond}
}

func TestStartRedisFaults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rp := StartRedis(t, "--maxmemory", "7mb")
	c := redis.NewClient(failFast(rp.Addr))
	t.Cleanup(func() { c.Close() })
	if mm, err := c.ConfigGet(ctx, "maxmemory").Result(); err != nil || mm["maxmemory"] != "7340032" {
		t.Errorf("extra args: maxmemory = %v, %v", mm, err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	rp.Freeze()
	start := time.Now()
	err := c.Get(ctx, "k").Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("GET on a frozen server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("GET on a frozen server took %v", d)
	}
	rp.Thaw()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET after Thaw = %q, %v; want v", got, err)
	}

	pid := rp.Pid()
	rp.Kill(syscall.SIGKILL)
	if conn, err := net.Dial("tcp", rp.Addr); err == nil {
		conn.Close()
		t.Error("port still accepts connections after Kill")
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET on a killed server: %v, want ECONNREFUSED", err)
	}

	rp.Restart()
	if rp.Pid() == pid {
		t.Error("Restart kept the pid")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = c.Get(ctx, "k").Err()
		if errors.Is(err, redis.Nil) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the pool may first fail fast on a cached dial error
	}
	if !errors.Is(err, redis.Nil) {
		t.Errorf("GET after Restart: %v, want redis.Nil (empty data)", err)
	}

	rp.Freeze()
	rp.Kill(syscall.SIGTERM) // a frozen server still ends on SIGTERM
	rp.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Logf("first PING after the second restart: %v", err)
	}
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := Sentinel(t)
	if m, err := s.CurrentMaster(ctx); err != nil || m != s.MasterAddr {
		t.Fatalf("CurrentMaster = %q, %v; want %s", m, err, s.MasterAddr)
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs})
	t.Cleanup(func() { fc.Close() })
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	start := time.Now()
	if err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := s.CurrentMaster(ctx)
		if err == nil && m == s.ReplicaAddr {
			t.Logf("new master after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("CurrentMaster = %q, %v after failover; want %s", m, err, s.ReplicaAddr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := fc.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET after failover = %q, %v; want v (replicated before)", got, err)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var first string
	t.Run("first", func(t *testing.T) {
		first = Postgres(t)
		schema := searchPath(t, first)
		if !strings.HasPrefix(schema, "t_") {
			t.Fatalf("search_path %q: want a t_ schema", schema)
		}
		c, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var cur string
		if err := c.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil || cur != schema {
			t.Fatalf("current_schema() = %q, %v; want %q", cur, err, schema)
		}
		if _, err := c.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v int)"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "INSERT INTO kv VALUES ('a', 1)"); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := c.QueryRow(ctx, "SELECT v FROM "+pgx.Identifier{schema, "kv"}.Sanitize()).Scan(&v); err != nil || v != 1 {
			t.Fatalf("SELECT = %d, %v", v, err)
		}
	})
	second := Postgres(t)
	if searchPath(t, second) == searchPath(t, first) {
		t.Fatalf("two tests got the same schema: %s", second)
	}
	c, err := pgx.Connect(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
		searchPath(t, first)).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema of the finished subtest: %d left, %v; want it dropped", n, err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n); err != nil || n != 0 {
		t.Errorf("fresh schema has %d tables, %v; want 0", n, err)
	}
}

func searchPath(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("sslmode") == "" && os.Getenv("DATABASE_URL") == "" {
		t.Errorf("DSN %s has no sslmode", u.Redacted())
	}
	return u.Query().Get("search_path")
}

func TestStartPostgresStopStart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pp := StartPostgres(t)
	c, err := pgx.Connect(ctx, pp.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pid := pp.Pid()
	pp.Stop()
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping on a stopped server succeeded")
	}
	c.Close(ctx)
	if _, err := pgx.Connect(ctx, pp.DSN); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to a stopped server: %v, want ECONNREFUSED", err)
	}
	pp.Start()
	if pp.Pid() == pid {
		t.Error("Start kept the pid")
	}
	c, err = pgx.Connect(ctx, pp.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v int
	if err := c.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Errorf("after Stop and Start: %d, %v; want 42 kept", v, err)
	}
}

func TestWithSearchPath(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/db":                                "postgres://u:p@h:5/db?search_path=t_x",
		"postgres://u:p@h:5/db?sslmode=disable":                "postgres://u:p@h:5/db?sslmode=disable&search_path=t_x",
		"postgresql://h/db?search_path=public&sslmode=require": "postgresql://h/db?sslmode=require&search_path=t_x",
	} {
		if got, err := withSearchPath(in, "t_x"); err != nil || got != want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
