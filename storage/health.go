package storage

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vedfolnir/sessions/hybrid"
)

// Status is the overall verdict of a [Health] report.
type Status string

// Statuses. Only StatusDown means sessions cannot be served.
const (
	StatusOK       Status = "ok"       // every component answers
	StatusDegraded Status = "degraded" // sessions are served, but a component is down or the hybrid store serves from SQL
	StatusDown     Status = "down"     // no store can serve sessions
)

// Component states in a [Health] report.
const (
	StateUp            = "up"
	StateDown          = "down"
	StateNotConfigured = "not_configured"
)

// Health is the storage health report, shaped for a /healthz answer.
// Its errors are categories ("redis: unavailable", "database: timeout"):
// the underlying error, which may name hosts, goes to Options.Logger only.
type Health struct {
	// Status is the verdict. The stores the mode serves from decide
	// between ok and down: in redis mode a Redis outage is down, in
	// database mode a database outage is, and in hybrid mode one outage is
	// degraded and two are down. Anything else that is down (the
	// Options.HealthDB of redis mode), an engaged hybrid store or one
	// whose mirror writes fail is degraded.
	Status Status `json:"status"`
	// Storage is the mode.
	Storage Mode `json:"storage"`
	// Redis and Database report each backend; StateNotConfigured when the
	// mode does not use it.
	Redis    Component `json:"redis"`
	Database Component `json:"database"`
	// Hybrid is the hybrid composition's state; nil in other modes.
	Hybrid *hybrid.Status `json:"hybrid,omitempty"`
	// CheckedAt is when the checks ran.
	CheckedAt time.Time `json:"checked_at"`
}

// Component is one backend's health.
type Component struct {
	// State is StateUp, StateDown or StateNotConfigured.
	State string `json:"status"`
	// LatencyMS is the ping round trip in milliseconds.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// UsedMemory and MaxMemory are Redis's INFO memory used_memory and
	// maxmemory in bytes (maxmemory 0: no limit); absent when unknown and
	// for the database. On a Cluster client they are one node's figures.
	UsedMemory *int64 `json:"used_memory,omitempty"`
	MaxMemory  *int64 `json:"maxmemory,omitempty"`
	// Error is the category of the failure when State is down:
	// "<component>: unavailable", "<component>: timeout", or
	// "<component>: check abandoned" when the caller's ctx ended first.
	Error string `json:"error,omitempty"`
}

// HTTPStatus is the status code a health endpoint answers with: 503 when
// the status is down, else 200 (a degraded app still serves sessions).
func (h Health) HTTPStatus() int {
	if h.Status == StatusDown {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// Health checks the backends the mode uses, each within
// Options.HealthTimeout, and reports. A backend that has not answered by
// then is reported down even when its client ignores deadlines (a frozen
// Redis under go-redis's default options holds a PING for its 5 s read
// timeout); the check goes on in the background, and at most one per
// backend is in flight. ctx cancels the wait, not the checks. Safe for
// concurrent use.
func (s *Storage) Health(ctx context.Context) Health {
	h := Health{Storage: s.mode, CheckedAt: time.Now().UTC()}
	h.Redis.State, h.Database.State = StateNotConfigured, StateNotConfigured
	var wg sync.WaitGroup
	if s.redisProbe != nil {
		wg.Go(func() { h.Redis = s.redisProbe.check(ctx, s.healthTimeout) })
	}
	if s.dbProbe != nil {
		wg.Go(func() { h.Database = s.dbProbe.check(ctx, s.healthTimeout) })
	}
	wg.Wait()
	engaged := false
	if s.hy != nil {
		st := s.hy.Status()
		h.Hybrid = &st
		engaged = st.Engaged || st.MirrorDown
	}
	h.Status = verdict(s.mode, h.Redis.State, h.Database.State, engaged)
	return h
}

// initHealth sets up the checks of the backends the mode uses (and of
// Options.HealthDB in redis mode).
func (s *Storage) initHealth(opts Options) {
	s.healthTimeout = opts.HealthTimeout
	if s.rs != nil && s.mode != ModeDatabase {
		rs := s.rs
		s.redisProbe = newProbe("redis", s.log, func(ctx context.Context) (Component, error) {
			t0 := time.Now()
			if err := rs.Ping(ctx); err != nil {
				return Component{}, err
			}
			c := Component{State: StateUp, LatencyMS: ms(time.Since(t0))}
			if info, err := rs.Client().Info(ctx, "memory").Result(); err == nil {
				c.UsedMemory, c.MaxMemory = infoInt(info, "used_memory"), infoInt(info, "maxmemory")
			}
			return c, nil
		})
	}
	var db *sql.DB
	switch {
	case s.db != nil:
		db = s.db.DB()
	case s.mode == ModeRedis:
		db = opts.HealthDB
	}
	if db != nil {
		s.dbProbe = newProbe("database", s.log, func(ctx context.Context) (Component, error) {
			t0 := time.Now()
			if err := db.PingContext(ctx); err != nil {
				return Component{}, err
			}
			return Component{State: StateUp, LatencyMS: ms(time.Since(t0))}, nil
		})
	}
}

// verdict applies the status rules of [Health.Status].
func verdict(mode Mode, redisState, dbState string, degraded bool) Status {
	redisDown, dbDown := redisState == StateDown, dbState == StateDown
	switch {
	case mode == ModeRedis && redisDown,
		mode == ModeDatabase && dbDown,
		mode == ModeHybrid && redisDown && dbDown:
		return StatusDown
	case redisDown || dbDown || degraded:
		return StatusDegraded
	}
	return StatusOK
}

// probe runs one component's check at a time. A check that outlives the
// caller's timeout keeps running in the background, and the next caller
// waits for that one instead of starting another. Failures are logged
// with their error when the component goes down (and at debug level while
// it stays down); the report carries only their category.
type probe struct {
	name string
	log  *slog.Logger
	run  func(ctx context.Context) (Component, error)

	mu      sync.Mutex
	running chan struct{} // closed when the current check ends; nil when none runs
	result  Component     // of the last check that ended
	down    bool          // the last report was down
}

func newProbe(name string, log *slog.Logger, run func(ctx context.Context) (Component, error)) *probe {
	return &probe{name: name, log: log, run: run}
}

// check returns the result of a check that ends within timeout, or a down
// component saying why there is none.
func (p *probe) check(ctx context.Context, timeout time.Duration) Component {
	p.mu.Lock()
	done := p.running
	if done == nil {
		done = make(chan struct{})
		p.running = done
		go func() {
			// The check's own deadline: a client that honours contexts
			// gives up by then; one that does not is waited for here only.
			cctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := p.run(cctx)
			if err != nil {
				c = p.failed(err)
			}
			p.mu.Lock()
			p.result, p.running = c, nil
			p.mu.Unlock()
			close(done)
		}()
	}
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var c Component
	select {
	case <-done:
		p.mu.Lock()
		c = p.result
		p.mu.Unlock()
	case <-t.C:
		c = p.failed(errNoAnswer{timeout})
	case <-ctx.Done():
		// The caller went away: say so, and leave the log and the
		// component's known state alone.
		return Component{State: StateDown, Error: p.name + ": check abandoned"}
	}
	p.mu.Lock()
	recovered := p.down && c.State != StateDown
	p.down = c.State == StateDown
	p.mu.Unlock()
	if recovered {
		p.log.Info("storage: health: "+p.name+" answers again", "component", p.name)
	}
	return c
}

// errNoAnswer is a check that did not end within the health timeout.
type errNoAnswer struct{ timeout time.Duration }

func (e errNoAnswer) Error() string { return "no answer within " + e.timeout.String() }

// failed logs err and returns the down component with err's category.
func (p *probe) failed(err error) Component {
	cat := "unavailable"
	var na errNoAnswer
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &na) || errors.As(err, &ne) && ne.Timeout() {
		cat = "timeout"
	}
	p.mu.Lock()
	was := p.down
	p.mu.Unlock()
	level := slog.LevelWarn
	if was {
		level = slog.LevelDebug
	}
	p.log.Log(context.Background(), level, "storage: health: "+p.name+" check failed", "component", p.name, "err", err)
	return Component{State: StateDown, Error: p.name + ": " + cat}
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

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
