// Command load drives each session implementation of package bench as a
// separate server process on loopback HTTP, with many virtual users, and
// reports throughput and latency side by side.
//
//	go run ./cmd/load                                  # every implementation, 50 users, 10 s each
//	go run ./cmd/load -users 1000 -sessions 100000 -rate 2000 -impls ours,scs
//
// For each implementation it starts a fresh redis-server (or uses -redis,
// under a key prefix of its own), pre-creates -sessions live sessions
// (in-process, through the implementation's own login handler, 64 at a
// time) and measures Redis used_memory before and after, then re-executes
// itself as the server (-serve impl, GOMAXPROCS=-procs), checks over HTTP
// that the server really stores and reads its sessions, logs every virtual
// user in (each with its own connection and cookie jar), warms up, and
// measures the mix (-mix) for -duration. Reads are checked against what
// the same user last wrote, so a lost session counts as an error.
//
// It prints a table, and writes load.md and load.svg to -out.
//
// With -fleet N it starts N server processes of one implementation
// (ours-hybrid unless -impls names another) on one redis-server and one
// SQLite file (or the PostgreSQL of -database), with nginx round-robin in
// front, and sends every request
// through nginx:
//
//	go run ./cmd/load -fleet 3 -users 50 -duration 20s
//
// Reads then fetch the whole session and check it against the user's last
// acknowledged write, which another instance likely served, and the report
// adds each instance's requests (from nginx's X-Upstream header) and CPU,
// and the stale reads, lost sessions and 5xx.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/bench"
)

// options are the command's flags.
type options struct {
	impls    []string
	users    int
	sessions int
	duration time.Duration
	warmup   time.Duration
	rate     float64
	mix      mix
	redis    string
	out      string
	procs    int
	rounds   int
	progress bool
	profile  string
	shared   bool
	cookies  int
	fleet    int    // instances behind nginx; 0: one server, no balancer
	database string // ours-hybrid's mirror instead of an SQLite file
	args     []string
}

func main() {
	var (
		serveImpl = flag.String("serve", "", "internal: serve one implementation (the driver starts itself with it)")
		listen    = flag.String("listen", "127.0.0.1:0", "internal: address of -serve (loopback only)")
		prefix    = flag.String("prefix", "", "internal: key prefix of -serve")
		dir       = flag.String("dir", "", "internal: SQLite directory of -serve")
		impls     = flag.String("impls", strings.Join(bench.Names, ","), "implementations to drive, comma-separated: "+strings.Join(bench.Names, ", "))
		users     = flag.Int("users", 50, "concurrent virtual users, each with its own connection, cookie jar and session")
		sessions  = flag.Int("sessions", 0, "live sessions to pre-create before the run (of other users)")
		duration  = flag.Duration("duration", 10*time.Second, "measured time per implementation")
		warmup    = flag.Duration("warmup", 2*time.Second, "unmeasured time before it")
		rate      = flag.Float64("rate", 0, "total requests per second, as Poisson arrivals (open loop, latency from the scheduled time); 0: closed loop, as fast as answers come")
		mixFlag   = flag.String("mix", "read=70,write=20,switch=10", "request mix: weights of read, write, switch (a write of the three platform fields), untouched")
		redisAddr = flag.String("redis", "", "use this redis-server (loopback) instead of starting one per implementation")
		out       = flag.String("out", "results", "directory for load.md and load.svg (\"\" writes none)")
		procs     = flag.Int("procs", 1, "GOMAXPROCS of the server processes")
		rounds    = flag.Int("rounds", 1, "split -duration into this many turns per implementation, taken in rotation, so that bursts of other work on the machine fall on all implementations alike")
		quiet     = flag.Bool("quiet", false, "no progress line")
		shared    = flag.Bool("shared", false, "every user sends the same session (one busy session, concurrent writers); no switch in the mix")
		cookies   = flag.Int("cookies", 0, "log this many sessions in and send the next one in rotation on each request (many sessions through -users connections); no switch in the mix")
		profile   = flag.String("profile", "", "write each server's CPU profile (<impl>.cpu.pprof) and allocation profile (<impl>.mem.pprof) to this directory")
		database  = flag.String("database", "", "a PostgreSQL URL (postgres://user:pass@127.0.0.1:5432/db, loopback only) for ours-hybrid's mirror instead of an SQLite file, so that a -fleet shares a database server; use a scratch database, its sessions table stays")
		fleet     = flag.Int("fleet", 0, "start this many server processes of one implementation (default "+bench.OursHybrid+") on one redis-server and one SQLite file (or -database), with nginx round-robin in front, and drive the load through nginx; reads then check the whole session against the user's last write, and requests are counted per instance")
	)
	flag.Parse()
	implsSet := false
	flag.Visit(func(f *flag.Flag) { implsSet = implsSet || f.Name == "impls" })
	if *fleet > 0 && !implsSet {
		*impls = bench.OursHybrid
	}
	if *serveImpl != "" {
		env := bench.Env{RedisAddr: *redisAddr, Prefix: *prefix, Dir: *dir, DatabaseURL: os.Getenv(envDatabase)}
		if err := serve(*serveImpl, *listen, *profile, env); err != nil {
			fmt.Fprintln(os.Stderr, "load: serve:", err)
			os.Exit(1)
		}
		return
	}
	o := options{
		users: *users, sessions: *sessions, duration: *duration, warmup: *warmup, rate: *rate,
		redis: *redisAddr, out: *out, procs: *procs, rounds: *rounds, progress: !*quiet, profile: *profile, args: os.Args[1:],
		shared: *shared, cookies: *cookies, fleet: *fleet, database: *database,
	}
	var err error
	if o.mix, err = parseMix(*mixFlag); err != nil {
		fatal(err)
	}
	for name := range strings.SplitSeq(*impls, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(bench.Names, name) {
			fatal(fmt.Errorf("-impls: unknown %q (want %s)", name, strings.Join(bench.Names, ", ")))
		}
		o.impls = append(o.impls, name)
	}
	switch {
	case o.users < 1 || o.users > 20000:
		err = errors.New("-users must be 1 to 20000")
	case o.sessions < 0 || o.sessions > 5_000_000:
		err = errors.New("-sessions must be 0 to 5000000")
	case o.duration <= 0 || o.duration > time.Hour || o.warmup < 0 || o.warmup > 10*time.Minute:
		err = errors.New("-duration must be within (0, 1h], -warmup within [0, 10m]")
	case o.rate < 0:
		err = errors.New("-rate must not be negative")
	case o.procs < 1:
		err = errors.New("-procs must be at least 1")
	case o.rounds < 1 || o.rounds > 100:
		err = errors.New("-rounds must be 1 to 100")
	case o.cookies < 0 || o.cookies > 1_000_000:
		err = errors.New("-cookies must be 0 to 1000000")
	case (o.shared || o.cookies > 0) && o.mix.cum[opSwitch] != o.mix.cum[opWrite]:
		err = errors.New("-shared and -cookies: the mix cannot have switches")
	case o.shared && o.cookies > 0:
		err = errors.New("-shared and -cookies exclude each other")
	case o.redis != "" && !loopback(o.redis):
		err = errors.New("-redis: loopback addresses only")
	case o.fleet < 0 || o.fleet > 16:
		// -fleet 1 is the baseline: the same balancer and checks, one instance.
		err = errors.New("-fleet must be 0 (off) to 16")
	case o.fleet > 0 && (len(o.impls) != 1 || !bench.HasSession(o.impls[0])):
		err = errors.New("-fleet drives one implementation that keeps sessions (-impls " + bench.OursHybrid + ", the default)")
	case o.fleet > 0 && (o.shared || o.cookies > 0):
		// The fleet's reads check each user's own last write.
		err = errors.New("-fleet excludes -shared and -cookies")
	case o.database != "" && (len(o.impls) != 1 || o.impls[0] != bench.OursHybrid):
		err = errors.New("-database is ours-hybrid's mirror: -impls " + bench.OursHybrid + " only")
	case o.database != "" && !loopbackURL(o.database):
		err = errors.New("-database: a postgres:// or postgresql:// URL of a loopback host")
	case o.fleet > 0 && o.profile != "":
		err = errors.New("-fleet excludes -profile (the instances would write the same files)")
	}
	if err != nil {
		fatal(err)
	}
	if err := run(o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

// implResult is everything measured for one implementation.
type implResult struct {
	name       string
	res        *result
	err        error
	cmds       int64            // Redis commands in the measured window
	cmdsBy     map[string]int64 // by command
	bytesOne   int64            // MEMORY USAGE of one fresh session's keys
	bytesScale float64          // used_memory growth per pre-created session
	usedBefore int64
	usedAfter  int64
	precreate  time.Duration
	serverCPU  time.Duration // server process CPU in the measured window
	redisCPU   time.Duration // redis-server CPU in the measured window
	instances  []string      // -fleet: the instances' addresses, as nginx names them
	// instanceCPU is each instance's share of serverCPU: a second witness
	// of the balancing, taken from the processes rather than from nginx.
	instanceCPU []time.Duration
}

// perReq returns d per measured request in µs.
func (r *implResult) perReq(d time.Duration) float64 {
	if r.res == nil || r.res.requests == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(r.res.requests)
}

func (r *implResult) cmdsPerReq() float64 {
	if r.res == nil || r.res.requests == 0 {
		return 0
	}
	return float64(r.cmds) / float64(r.res.requests)
}

func run(o options) error {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	fmt.Fprintf(os.Stderr, "load: %d users, %s per implementation (+%s warm-up), mix %s, %s, %d pre-created sessions, server GOMAXPROCS=%d%s\n",
		o.users, o.duration, o.warmup, o.mix.text, loopText(o.rate), o.sessions, o.procs, fleetText(o))
	// Set every implementation up first, then measure them in turns, round
	// after round, so that a burst of other work on the machine falls on
	// all of them rather than on one.
	var results []*implResult
	var insts []*instance
	for _, name := range o.impls {
		in, err := setupImpl(o, name, secret)
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: %s: %v\n", name, err)
			results = append(results, &implResult{name: name, err: err})
			continue
		}
		defer in.close()
		if o.progress {
			msg := "ready"
			if in.r.precreate > 0 {
				msg = fmt.Sprintf("ready, %d sessions pre-created in %s", o.sessions, in.r.precreate.Round(time.Millisecond))
			}
			fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, msg)
		}
		insts = append(insts, in)
		results = append(results, in.r)
	}
	rounds := max(o.rounds, 1)
	for round := range rounds {
		for _, in := range insts {
			if in.r.err != nil {
				continue
			}
			if err := in.measure(o); err != nil {
				in.r.err = err
				fmt.Fprintf(os.Stderr, "load: %s: %v\n", in.r.name, err)
				continue
			}
			if round == rounds-1 {
				res := in.r.res
				fmt.Fprintf(os.Stderr, "  %-12s %8.0f req/s  p50 %s  p99 %s  errors %d\n", in.r.name, res.throughput(),
					ms(res.pct(0.5)), ms(res.pct(0.99)), res.errors)
			}
		}
	}
	fmt.Println()
	fmt.Print(table(o, results))
	for _, r := range results {
		fmt.Print(fleetReport(r))
	}
	if o.out == "" {
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	md := report(o, results)
	if err := os.WriteFile(o.out+"/load.md", []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(o.out+"/load.svg", []byte(chart(o, results)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "load: wrote %s/load.md and %s/load.svg\n", o.out, o.out)
	return nil
}

// loopbackURL reports whether s is a PostgreSQL URL of a loopback host.
func loopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return loopback(net.JoinHostPort(u.Hostname(), port))
}

// fleetText describes -fleet for the header lines.
func fleetText(o options) string {
	if o.fleet == 0 {
		return ""
	}
	return ", " + instances(o.fleet) + " behind nginx round-robin"
}

func loopText(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %.0f req/s", rate)
	}
	return "closed loop"
}

// instance is one implementation set up for measuring: its redis-server,
// its pre-created sessions and its server process (with -fleet, its server
// processes and the nginx in front of them).
type instance struct {
	r       *implResult
	app     *bench.App
	rdb     *goredis.Client
	srvs    []*server
	base    string // where the virtual users send: the server, or nginx
	cleanup []func()
}

// close stops the server and the redis-server and removes their files.
func (in *instance) close() {
	for i := len(in.cleanup) - 1; i >= 0; i-- {
		in.cleanup[i]()
	}
	in.cleanup = nil
}

// runImpl sets one implementation up, measures it for o.rounds rounds and
// shuts it down.
func runImpl(o options, name string, secret []byte) *implResult {
	in, err := setupImpl(o, name, secret)
	if err != nil {
		return &implResult{name: name, err: err}
	}
	defer in.close()
	for range max(o.rounds, 1) {
		if err := in.measure(o); err != nil {
			in.r.err = err
			break
		}
	}
	return in.r
}

// setupImpl gives the implementation a Redis of its own (a fresh
// redis-server, or a key prefix of its own on -redis), pre-creates the
// live sessions, starts its server process, checks it over HTTP and
// measures the Redis bytes of one session.
func setupImpl(o options, name string, secret []byte) (_ *instance, err error) {
	in := &instance{r: &implResult{name: name}}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	r := in.r
	ctx := context.Background()
	addr, prefix := o.redis, ""
	if addr == "" {
		rs, err := startRedis()
		if err != nil {
			return nil, err
		}
		in.cleanup = append(in.cleanup, rs.stop)
		addr = rs.Addr
	} else {
		var b [4]byte
		_, _ = rand.Read(b[:])
		prefix = fmt.Sprintf("bench%x:", b)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	in.rdb = rdb
	in.cleanup = append(in.cleanup, func() { _ = rdb.Close() })
	if prefix != "" {
		in.cleanup = append(in.cleanup, func() { unlinkPrefix(ctx, rdb, prefix) })
	}
	dir, err := os.MkdirTemp("", "bench-load-")
	if err != nil {
		return nil, err
	}
	in.cleanup = append(in.cleanup, func() { _ = os.RemoveAll(dir) })
	env := bench.Env{RedisAddr: addr, Prefix: prefix, Dir: dir, Secret: secret, DatabaseURL: o.database}

	// Pre-create in-process, on the implementation's own login handler.
	app, err := bench.Build(name, env)
	if err != nil {
		return nil, err
	}
	in.app = app
	firstPre := o.users + 1
	if o.sessions > 0 && bench.HasSession(name) {
		if app.Redis {
			r.usedBefore, _ = bench.UsedMemory(ctx, rdb)
		}
		t0 := time.Now()
		if err := precreate(app, o.sessions, firstPre, o.progress); err != nil {
			_ = app.Close()
			return nil, fmt.Errorf("pre-creating sessions: %w", err)
		}
		r.precreate = time.Since(t0)
		if app.Redis {
			r.usedAfter, _ = bench.UsedMemory(ctx, rdb)
			r.bytesScale = float64(r.usedAfter-r.usedBefore) / float64(o.sessions)
		}
	}
	_ = app.Close() // its clients; the app still names cookies and keys

	// A fleet's instances share everything a fleet shares: the Redis, the
	// key prefix, the SQLite file (env.Dir) and the secret.
	for range max(o.fleet, 1) {
		srv, err := startServer(name, o.procs, env, secret, o.profile)
		if err != nil {
			return nil, err
		}
		in.srvs = append(in.srvs, srv)
		in.cleanup = append(in.cleanup, srv.stop)
	}
	in.base = in.srvs[0].Base
	if o.fleet > 0 {
		for _, s := range in.srvs {
			r.instances = append(r.instances, strings.TrimPrefix(s.Base, "http://"))
		}
		ng, err := startNginx(r.instances)
		if err != nil {
			return nil, err
		}
		in.cleanup = append(in.cleanup, ng.stop)
		in.base = "http://" + ng.Addr
	}
	do := httpDoer(in.base, app.CookieName)
	if err := bench.Verify(ctx, app, do, rdb); err != nil {
		return nil, err
	}
	if app.Redis && bench.HasSession(name) {
		// One fresh session of a user with no other session.
		user := firstPre + o.sessions
		cookie, err := login(do, app, user)
		if err == nil {
			var keys []string
			if keys, err = app.SessionKeys(cookie, user); err == nil {
				r.bytesOne, err = bench.MemoryUsage(ctx, rdb, keys...)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("measuring a session: %w", err)
		}
	}
	return in, nil
}

// measure runs one round of the virtual users (o.duration / o.rounds of
// measurement) and adds it to the instance's result.
func (in *instance) measure(o options) error {
	ctx := context.Background()
	r, app, rdb := in.r, in.app, in.rdb
	var before map[string]int64
	var statsErr error
	var cpu0, rcpu0 time.Duration
	each0 := make([]time.Duration, len(in.srvs))
	if len(r.instanceCPU) < len(in.srvs) {
		r.instanceCPU = make([]time.Duration, len(in.srvs))
	}
	cfg := loadConfig{
		impl: r.name, base: in.base, users: o.users, firstUser: 1, shared: o.shared, cookies: o.cookies, fleet: o.fleet > 0,
		duration: o.duration / time.Duration(max(o.rounds, 1)), warmup: o.warmup, rate: o.rate, mix: o.mix, progress: o.progress,
		onWindow: func(start bool) {
			var cpu time.Duration
			for i, srv := range in.srvs {
				c, err := processCPU(srv.cmd.Process.Pid)
				if err != nil {
					statsErr = err
				}
				cpu += c
				if start {
					each0[i] = c
				} else {
					r.instanceCPU[i] += c - each0[i]
				}
			}
			var rcpu time.Duration
			if app.Redis {
				var err error
				if rcpu, err = redisCPU(ctx, rdb); err != nil {
					statsErr = err
				}
			}
			if start {
				cpu0, rcpu0 = cpu, rcpu
			} else {
				r.serverCPU += cpu - cpu0
				r.redisCPU += rcpu - rcpu0
			}
			if !app.Redis {
				return
			}
			s, err := bench.CommandStats(ctx, rdb)
			if err != nil {
				statsErr = err
				return
			}
			if start {
				before = s
			} else if before != nil {
				n, by := bench.CommandDelta(before, s)
				r.cmds += n
				if r.cmdsBy == nil {
					r.cmdsBy = map[string]int64{}
				}
				for k, v := range by {
					r.cmdsBy[k] += v
				}
			}
		},
	}
	res, err := runLoad(cfg)
	if err != nil {
		return err
	}
	if r.res == nil {
		r.res = res
	} else {
		r.res.merge(res)
	}
	if statsErr != nil {
		fmt.Fprintf(os.Stderr, "load: %s: CPU or command figures: %v\n", r.name, statsErr)
	}
	return nil
}

// login logs user in over do and returns the session cookie.
func login(do bench.Doer, app *bench.App, user int) (string, error) {
	resp, err := do(http.MethodPost, bench.PathLogin+"?u="+strconv.Itoa(user), "")
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusOK {
		return "", fmt.Errorf("login: %d %q", resp.Status, resp.Body)
	}
	ck := app.SessionCookie(resp.Header)
	if ck == "" {
		return "", errors.New("login set no session cookie")
	}
	return ck, nil
}

// precreate logs n users in through the app's own handler, 64 at a time:
// users first, first+1, ...
func precreate(app *bench.App, n, first int, progress bool) error {
	var next, done atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	workers := min(64, n)
	stop := make(chan struct{})
	if progress {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					if isTerminal {
						fmt.Fprint(os.Stderr, "\r\033[K")
					}
					return
				case <-t.C:
					line := fmt.Sprintf("  %-12s pre-creating sessions %d/%d", app.Name, done.Load(), n)
					if isTerminal {
						fmt.Fprint(os.Stderr, "\r\033[K"+line)
					} else {
						fmt.Fprintln(os.Stderr, line)
					}
				}
			}
		}()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || firstErr.Load() != nil {
					return
				}
				rec := app.Do(http.MethodPost, bench.PathLogin+"?u="+strconv.Itoa(first+int(i)), "")
				if rec.Code != http.StatusOK {
					err := fmt.Errorf("login %d: %d %q", first+int(i), rec.Code, rec.Body.String())
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// httpDoer sends requests to base with an explicit session cookie named
// name (no jar).
func httpDoer(base, name string) bench.Doer {
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return func(method, target, cookie string) (bench.Response, error) {
		req, err := http.NewRequest(method, base+target, nil)
		if err != nil {
			return bench.Response{}, err
		}
		if cookie != "" {
			req.Header.Set("Cookie", name+"="+cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			return bench.Response{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return bench.Response{}, err
		}
		return bench.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
	}
}

// unlinkPrefix removes the keys of a run on a shared server.
func unlinkPrefix(ctx context.Context, rdb *goredis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			_ = rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
