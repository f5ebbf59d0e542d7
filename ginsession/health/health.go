package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// Storage modes, as SESSION_STORAGE names them.
const (
	ModeRedis    = "redis"
	ModeDatabase = "database"
	ModeHybrid   = "hybrid"
)

// Status is the overall verdict of a [Report].
type Status string

// Statuses. Only StatusDown answers 503: a degraded app still serves.
const (
	StatusOK       Status = "ok"       // every component answers
	StatusDegraded Status = "degraded" // sessions are served, but something is down or the fallback is engaged
	StatusDown     Status = "down"     // no store can serve sessions
)

// Component states in a report.
const (
	StateUp            = "up"
	StateDown          = "down"
	StateNotConfigured = "not_configured"
)

// FallbackState is what a storage fallback reports about itself.
type FallbackState struct {
	// Engaged: the fallback serves from its secondary store because the
	// primary failed.
	Engaged bool
	// Breaker is the circuit breaker's state ("closed", "open",
	// "half-open"), as the fallback names it.
	Breaker string
	// MirrorLag is how far the mirror lags behind the primary.
	MirrorLag time.Duration
	// QueueDepth is how many writes wait to be mirrored or replayed.
	QueueDepth int
}

// Options configures a [Checker]. Only the components the mode needs are
// required; the zero value of the rest is safe.
type Options struct {
	// Mode is the storage mode: ModeRedis, ModeDatabase or ModeHybrid (the
	// values of SESSION_STORAGE). Default: hybrid when both Redis and DB
	// are set, redis when only Redis is, database otherwise.
	Mode string
	// Redis is the client of the session Redis. Required in redis and
	// hybrid modes; optional in database mode (then checked, and its
	// outage only degrades). On a Cluster client PING and INFO reach one
	// node, so the memory figures are that node's.
	Redis redis.UniversalClient
	// DB is the session database. Required in database and hybrid modes;
	// optional in redis mode (then checked, and its outage only degrades).
	DB *sql.DB
	// Fallback reports the state of the storage fallback, if any. An
	// engaged fallback makes the status degraded. Default nil: no
	// fallback section.
	Fallback func() FallbackState
	// Timeout bounds each component's check. A component that has not
	// answered by then is reported down, and the check it started goes on
	// in the background, at most one per component: frozen servers never
	// make the handler hang nor pile up goroutines. Default 1s.
	Timeout time.Duration
	// CacheFor is how long a report is reused, so health scrapes cannot
	// hammer the stores. Default 1s.
	CacheFor time.Duration
	// DisableCache checks on every call. Default false.
	DisableCache bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		switch {
		case o.Redis != nil && o.DB != nil:
			o.Mode = ModeHybrid
		case o.Redis != nil:
			o.Mode = ModeRedis
		default:
			o.Mode = ModeDatabase
		}
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.CacheFor == 0 {
		o.CacheFor = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("health: invalid options: "+format, args...)
	}
	switch {
	case o.Mode != ModeRedis && o.Mode != ModeDatabase && o.Mode != ModeHybrid:
		return bad("Mode %q: want redis, database or hybrid", o.Mode)
	case o.Mode != ModeDatabase && o.Redis == nil:
		return bad("Mode %s needs Redis", o.Mode)
	case o.Mode != ModeRedis && o.DB == nil:
		return bad("Mode %s needs DB", o.Mode)
	case o.Timeout < 0:
		return bad("Timeout must be positive")
	case o.CacheFor < 0:
		return bad("CacheFor must be positive")
	}
	return nil
}

// Report is the health of the session storage, as the handler serves it.
type Report struct {
	Status    Status          `json:"status"`
	Storage   string          `json:"storage"`
	Redis     RedisReport     `json:"redis"`
	Database  DatabaseReport  `json:"database"`
	Fallback  *FallbackReport `json:"fallback,omitempty"`
	CheckedAt time.Time       `json:"checked_at"`
}

// RedisReport is the Redis section of a [Report].
type RedisReport struct {
	// State is StateUp, StateDown or StateNotConfigured.
	State string `json:"status"`
	// LatencyMS is the PING round trip in milliseconds.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// UsedMemory and MaxMemory are INFO memory's used_memory and maxmemory
	// in bytes (maxmemory 0: no limit). Absent when unknown.
	UsedMemory *int64 `json:"used_memory,omitempty"`
	MaxMemory  *int64 `json:"maxmemory,omitempty"`
	// Error says why the state is down.
	Error string `json:"error,omitempty"`
}

// DatabaseReport is the database section of a [Report].
type DatabaseReport struct {
	// State is StateUp, StateDown or StateNotConfigured.
	State string `json:"status"`
	// LatencyMS is the ping round trip in milliseconds.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// Error says why the state is down.
	Error string `json:"error,omitempty"`
}

// FallbackReport is the fallback section of a [Report].
type FallbackReport struct {
	Engaged     bool    `json:"engaged"`
	Breaker     string  `json:"breaker,omitempty"`
	MirrorLagMS float64 `json:"mirror_lag_ms"`
	QueueDepth  int     `json:"queue_depth"`
}

// HTTPStatus is the status code the handler answers with: 503 when the
// status is down, else 200.
func (r Report) HTTPStatus() int {
	if r.Status == StatusDown {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// Checker checks the session storage and caches the result. Safe for
// concurrent use.
type Checker struct {
	opts  Options
	redis *probe[RedisReport]
	db    *probe[DatabaseReport]

	mu     sync.Mutex // held while a report is built: one check at a time
	last   Report
	lastAt time.Time
	have   bool
}

// NewChecker validates opts and returns a Checker.
func NewChecker(opts Options) (*Checker, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Checker{opts: opts}
	if opts.Redis != nil {
		c.redis = &probe[RedisReport]{run: func(ctx context.Context) RedisReport { return checkRedis(ctx, opts.Redis) }}
	}
	if opts.DB != nil {
		c.db = &probe[DatabaseReport]{run: func(ctx context.Context) DatabaseReport { return checkDB(ctx, opts.DB) }}
	}
	return c, nil
}

// Handler returns a gin handler serving the report as JSON: 200 while
// sessions can be served (ok or degraded), 503 when they cannot. It panics
// when opts are invalid, at start-up; use [NewChecker] to get the error.
func Handler(opts Options) gin.HandlerFunc {
	c, err := NewChecker(opts)
	if err != nil {
		panic(err)
	}
	return c.Handler()
}

// Handler returns a gin handler serving the checker's report.
func (c *Checker) Handler() gin.HandlerFunc {
	return func(gc *gin.Context) {
		r := c.Check(gc.Request.Context())
		gc.Header("Cache-Control", "no-store")
		gc.JSON(r.HTTPStatus(), r)
	}
}

// Check returns the report, from the cache when it is younger than
// Options.CacheFor. It takes at most about Options.Timeout (plus the wait
// for a check already running), whatever the servers do. ctx cancels the
// wait, not the checks.
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.have && !c.opts.DisableCache && now.Sub(c.lastAt) < c.opts.CacheFor {
		return c.last
	}
	r := Report{Storage: c.opts.Mode, CheckedAt: now.UTC()}
	r.Redis.State, r.Database.State = StateNotConfigured, StateNotConfigured
	var wg sync.WaitGroup
	if c.redis != nil {
		wg.Go(func() {
			var msg string
			if r.Redis, msg = c.redis.check(ctx, c.opts.Timeout); msg != "" {
				r.Redis = RedisReport{State: StateDown, Error: msg}
			}
		})
	}
	if c.db != nil {
		wg.Go(func() {
			var msg string
			if r.Database, msg = c.db.check(ctx, c.opts.Timeout); msg != "" {
				r.Database = DatabaseReport{State: StateDown, Error: msg}
			}
		})
	}
	wg.Wait()
	engaged := false
	if c.opts.Fallback != nil {
		fs := c.opts.Fallback()
		engaged = fs.Engaged
		r.Fallback = &FallbackReport{Engaged: fs.Engaged, Breaker: fs.Breaker,
			MirrorLagMS: ms(fs.MirrorLag), QueueDepth: fs.QueueDepth}
	}
	r.Status = verdict(c.opts.Mode, r.Redis.State, r.Database.State, engaged)
	if ctx.Err() == nil { // a report cut short by the caller is not cached
		c.last, c.lastAt, c.have = r, now, true
	}
	return r
}

// verdict applies the status rules. The stores the mode serves from decide
// between ok and down; anything else that is down (an optional store, or
// one of hybrid's two) or an engaged fallback makes it degraded.
func verdict(mode, redisState, dbState string, engaged bool) Status {
	redisDown, dbDown := redisState == StateDown, dbState == StateDown
	switch {
	case mode == ModeRedis && redisDown,
		mode == ModeDatabase && dbDown,
		mode == ModeHybrid && redisDown && dbDown:
		return StatusDown
	case redisDown || dbDown || engaged:
		return StatusDegraded
	}
	return StatusOK
}

// probe runs one component's check at a time. A check that outlives the
// caller's timeout keeps running in the background, and the next caller
// waits for that one instead of starting another.
type probe[R any] struct {
	run func(ctx context.Context) R

	mu      sync.Mutex
	running chan struct{} // closed when the current check ends; nil when none runs
	result  R             // of the last check that ended
}

// check returns the result of a check that ends within timeout, or a
// message saying why there is none.
func (p *probe[R]) check(ctx context.Context, timeout time.Duration) (R, string) {
	p.mu.Lock()
	done := p.running
	if done == nil {
		done = make(chan struct{})
		p.running = done
		go func() {
			// The check's own deadline: a client that honours contexts
			// gives up by then; one that does not (go-redis without
			// ContextTimeoutEnabled) is waited for here only.
			cctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r := p.run(cctx)
			p.mu.Lock()
			p.result, p.running = r, nil
			p.mu.Unlock()
			close(done)
		}()
	}
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var zero R
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.result, ""
	case <-t.C:
		return zero, fmt.Sprintf("no answer within %v", timeout)
	case <-ctx.Done():
		return zero, "check abandoned: " + ctx.Err().Error()
	}
}

// checkRedis pings Redis and reads its memory figures.
func checkRedis(ctx context.Context, c redis.UniversalClient) RedisReport {
	t0 := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		return RedisReport{State: StateDown, Error: errText(err)}
	}
	r := RedisReport{State: StateUp, LatencyMS: ms(time.Since(t0))}
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		// It answered PING: up, without figures.
		r.Error = "INFO memory: " + errText(err)
		return r
	}
	r.UsedMemory = infoInt(info, "used_memory")
	r.MaxMemory = infoInt(info, "maxmemory")
	return r
}

// checkDB pings the database.
func checkDB(ctx context.Context, db *sql.DB) DatabaseReport {
	t0 := time.Now()
	if err := db.PingContext(ctx); err != nil {
		return DatabaseReport{State: StateDown, Error: errText(err)}
	}
	return DatabaseReport{State: StateUp, LatencyMS: ms(time.Since(t0))}
}

// infoInt reads an integer field of an INFO reply; nil when absent.
func infoInt(info, field string) *int64 {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil
		}
		return &n
	}
	return nil
}

// errText is an error's text, with context errors named plainly.
func errText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
