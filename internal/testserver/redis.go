package testserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

const redisMissing = "redis-server not found on PATH: install it (apt-get install redis-server) or set REDIS_URL"

var sharedRedis struct {
	once sync.Once
	addr string
	url  string // REDIS_URL when set
	out  outcome
}

// Redis returns the address ("127.0.0.1:port") of a shared standalone
// redis-server: the one named by REDIS_URL if set (parsed with
// redis.ParseURL; use [RedisOptions] to keep its password and database),
// else one started once per test process on a free port, with
// --save "" --appendonly no --enable-debug-command local.
//
// Tests share it: keep every key under [Prefix] and never FLUSHDB.
func Redis(t testing.TB) string {
	t.Helper()
	s := &sharedRedis
	startOnce(t, &s.once, &s.out, startSharedRedis)
	s.out.check(t)
	return s.addr
}

func startSharedRedis() outcome {
	s := &sharedRedis
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return outcome{err: fmt.Errorf("REDIS_URL: %v", err)}
		}
		s.addr, s.url = opt.Addr, url
		opt.MaxRetries, opt.DialerRetries = -1, 1
		opt.DialTimeout, opt.ReadTimeout = 2*time.Second, 2*time.Second
		quietRedisLog()
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Ping(ctx).Err(); err != nil {
			return outcome{skip: fmt.Sprintf("REDIS_URL names %s, which does not answer PING: %v", opt.Addr, err)}
		}
		return outcome{msg: "using REDIS_URL's server " + opt.Addr}
	}
	if _, ok := lookBinary("redis-server"); !ok {
		return outcome{skip: redisMissing}
	}
	rp, err := startRedisProc("redis-shared", nil)
	if err != nil {
		return outcome{err: err}
	}
	s.addr = rp.Addr
	atShutdown(rp.close)
	return outcome{msg: fmt.Sprintf("started shared redis-server %s, pid %d, in %s", rp.Addr, rp.p.pid(), rp.spec.dir)}
}

// RedisOptions returns fresh client options for [Redis]: REDIS_URL's (so
// its password, database and TLS settings are kept) or just the address.
// Tests adjust them (timeouts, retries) before redis.NewClient.
func RedisOptions(t testing.TB) *redis.Options {
	t.Helper()
	addr := Redis(t)
	if u := sharedRedis.url; u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("testserver: REDIS_URL: %v", err)
		}
		return opt
	}
	return &redis.Options{Addr: addr}
}

// RedisClient returns a client of [Redis], closed at t's cleanup.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	opt := RedisOptions(t)
	quietRedisLog()
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var quietOnce sync.Once

// quietRedisLog installs, once, a go-redis logger that drops the "failed to
// dial" lines a stopped server causes by the hundred.
func quietRedisLog() {
	quietOnce.Do(func() { redis.SetLogger(logging.NewBlacklistLogger([]string{"failed to dial"})) })
}

var (
	prefixMu  sync.Mutex
	prefixes  = map[testing.TB]string{}
	prefixN   atomic.Uint64
	procTagMu sync.Once
	procTag   string
)

// tag returns a short string unique to this process: its pid and two random
// characters (pids repeat across runs against a long-lived server), base 36.
func tag() string {
	procTagMu.Do(func() {
		const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
		procTag = strconv.FormatInt(int64(os.Getpid()), 36) +
			string(digits[rand.IntN(36)]) + string(digits[rand.IntN(36)])
	})
	return procTag
}

// Prefix returns a key prefix unique to t (and to this process) made of
// [a-z0-9] and ending in ":", e.g. "t1kz9x7:". Calls with the same t
// return the same prefix; subtests get their own. Tests isolate their
// Redis keys with it and never FLUSHDB.
func Prefix(t testing.TB) string {
	t.Helper()
	prefixMu.Lock()
	defer prefixMu.Unlock()
	if p, ok := prefixes[t]; ok {
		return p
	}
	p := "t" + tag() + "x" + strconv.FormatUint(prefixN.Add(1), 36) + ":"
	prefixes[t] = p
	t.Cleanup(func() {
		prefixMu.Lock()
		delete(prefixes, t)
		prefixMu.Unlock()
	})
	return p
}

// RedisProc is a redis-server owned by one test, for fault injection. It
// runs with --save "" --appendonly no, so a restart starts empty. Its
// methods fail the test (t.Fatalf) on error, so call them from the test's
// goroutine.
type RedisProc struct {
	// Addr is "127.0.0.1:port"; it stays the same across restarts.
	Addr string

	t    testing.TB // the owner; nil for the shared server, whose methods are not exposed
	mu   sync.Mutex
	spec procSpec
	p    *proc
}

// StartRedis starts a redis-server owned by t on a free port, stopped and
// removed at t's cleanup. extraArgs are appended to the command line
// ("--maxmemory", "1mb", ...) and override the defaults, except --port.
func StartRedis(t testing.TB, extraArgs ...string) *RedisProc {
	t.Helper()
	if _, ok := lookBinary("redis-server"); !ok {
		Unavailable(t, "%s", redisMissing)
	}
	t0 := time.Now()
	rp, err := startRedisProc("redis", extraArgs)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	rp.t = t
	t.Cleanup(rp.close)
	t.Logf("testserver: started redis-server %s, pid %d, in %v", rp.Addr, rp.p.pid(), time.Since(t0).Round(time.Millisecond))
	return rp
}

// startRedisProc starts a standalone redis-server in a new directory.
func startRedisProc(name string, extraArgs []string) (*RedisProc, error) {
	bin, _ := lookBinary("redis-server")
	dir, err := subDir(name)
	if err != nil {
		return nil, err
	}
	rp := &RedisProc{}
	p, port, err := startOnPort(false, func(port int) (*proc, error) {
		argv := []string{bin,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--save", "", "--appendonly", "no", "--daemonize", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		}
		if redisMajor(bin) >= 7 {
			argv = append(argv, "--enable-debug-command", "local")
		}
		argv = append(argv, extraArgs...)
		spec := procSpec{
			name:    fmt.Sprintf("redis-server 127.0.0.1:%d", port),
			argv:    argv,
			dir:     dir,
			logs:    []string{filepath.Join(dir, "redis.log")},
			quitSig: syscall.SIGKILL,
		}
		p, err := startProc(spec)
		if err != nil {
			return nil, err
		}
		rp.spec = spec
		return p, readyOrRetry(p, redisReady(p, localAddr(port)))
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	rp.Addr, rp.p = localAddr(port), p
	return rp, nil
}

func localAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// redisReady checks that the server answering on addr is p (not another
// process that holds the port) and that it answers PING.
func redisReady(p *proc, addr string) func() error {
	return func() error {
		info, err := redisString(addr, "INFO", "server")
		if err != nil {
			return err
		}
		if got := infoField(info, "process_id"); got != strconv.Itoa(p.pid()) {
			return fmt.Errorf("%s is served by pid %s, not ours (%d)", addr, got, p.pid())
		}
		if pong, err := redisString(addr, "PING"); err != nil || pong != "PONG" {
			return fmt.Errorf("PING: %q, %v", pong, err)
		}
		return nil
	}
}

var (
	majorOnce sync.Once
	major     int
)

// redisMajor returns redis-server's major version (0 if unknown);
// --enable-debug-command exists from 7 on.
func redisMajor(bin string) int {
	majorOnce.Do(func() {
		out, _ := exec.Command(bin, "--version").Output()
		if m := regexp.MustCompile(`v=(\d+)\.`).FindSubmatch(out); m != nil {
			major, _ = strconv.Atoi(string(m[1]))
		}
	})
	return major
}

func (rp *RedisProc) fatalf(format string, args ...any) {
	rp.t.Helper()
	rp.t.Fatalf("testserver: "+format, args...)
}

// Pid returns the process id of the running server (of the latest start).
func (rp *RedisProc) Pid() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.p.pid()
}

// Kill sends sig (SIGKILL, SIGTERM, ...: a signal that ends the server; a
// frozen server is thawed so that it can act on it) and waits until the
// process has exited and its port refuses connections.
func (rp *RedisProc) Kill(sig syscall.Signal) {
	rp.t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err := rp.p.stop(sig); err != nil {
		rp.fatalf("kill: %v", err)
	}
	if err := waitRefused(rp.Addr); err != nil {
		rp.fatalf("kill: %v", err)
	}
}

// Restart starts the server again on the same port with empty data, after
// killing it (SIGKILL) if it still runs, and waits until it answers PING.
func (rp *RedisProc) Restart() {
	rp.t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err := rp.p.stop(syscall.SIGKILL); err != nil {
		rp.fatalf("restart: %v", err)
	}
	p, err := startProc(rp.spec)
	if err != nil {
		rp.fatalf("restart: %v", err)
	}
	rp.p = p
	if err := p.waitReady(redisReady(p, rp.Addr)); err != nil {
		_ = p.stop(syscall.SIGKILL)
		rp.fatalf("restart: %v", err)
	}
}

// Freeze stops the server with SIGSTOP and waits until the kernel reports
// it stopped. The kernel still accepts TCP connections on its port, but
// nothing answers them: clients hang until their timeouts.
func (rp *RedisProc) Freeze() {
	rp.t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err := rp.p.signal(syscall.SIGSTOP); err != nil {
		rp.fatalf("freeze: %v", err)
	}
	if err := waitState(rp.p, "stopped", func(s byte) bool { return s == 'T' }); err != nil {
		rp.fatalf("freeze: %v", err)
	}
}

// Thaw resumes a frozen server with SIGCONT and waits until it runs again.
func (rp *RedisProc) Thaw() {
	rp.t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err := rp.p.signal(syscall.SIGCONT); err != nil {
		rp.fatalf("thaw: %v", err)
	}
	if err := waitState(rp.p, "running", func(s byte) bool { return s != 'T' }); err != nil {
		rp.fatalf("thaw: %v", err)
	}
}

// close stops the server for good and removes its directory.
func (rp *RedisProc) close() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err := rp.p.stop(syscall.SIGKILL); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
	}
	_ = os.RemoveAll(rp.spec.dir)
}
