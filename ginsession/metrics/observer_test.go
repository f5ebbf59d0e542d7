package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// TestSeriesExistFromStart: the series alerts use (errors, conflicts,
// fallback, per operation) exist at zero before any operation, for the
// configured stores and for ginsession's loads and saves.
func TestSeriesExistFromStart(t *testing.T) {
	tests := []struct {
		name   string
		opts   metrics.Options
		stores []string // labels expected
		absent []string // labels not expected
	}{
		{"default stores", metrics.Options{}, []string{"redis", "database", "hybrid", "session"}, nil},
		{"only redis", metrics.Options{Stores: []string{"redis"}}, []string{"redis", "session"}, []string{"database", "hybrid"}},
		{"none", metrics.Options{Stores: []string{}}, []string{"session"}, []string{"redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reg := newMetrics(t, tt.opts)
			count := func(name, st, op string) int {
				t.Helper()
				mfs, err := reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, mf := range mfs {
					if mf.GetName() != name {
						continue
					}
					for _, m := range mf.GetMetric() {
						if hasLabels(m, []string{"store", st, "op", op}) {
							n++
						}
					}
				}
				return n
			}
			for _, st := range tt.stores {
				op := "put"
				if st == "session" {
					op = "load"
				}
				if got := count("sessions_store_errors_total", st, op); got != 7 {
					t.Errorf("%s %s: %d error series, want one per kind (7)", st, op, got)
				}
				for _, name := range []string{"sessions_store_conflicts_total", "sessions_store_fallback_served_total", "sessions_store_operation_duration_seconds"} {
					if got := count(name, st, op); got != 1 {
						t.Errorf("%s{store=%q,op=%q}: %d series, want 1", name, st, op, got)
					}
				}
			}
			for _, st := range tt.absent {
				if got := count("sessions_store_errors_total", st, "put"); got != 0 {
					t.Errorf("store %q has %d series, want none", st, got)
				}
			}
		})
	}
}

// TestObserverCounts reports each kind of outcome and checks the series
// that moved: errors by kind, conflicts (retries of a save included),
// fallback, and none for a miss; a store label first seen gets its series.
func TestObserverCounts(t *testing.T) {
	m, reg := newMetrics(t, metrics.Options{Stores: []string{}})
	obs := m.Observer()
	report := func(st string, op store.Op, err error, fallback bool, retries int) {
		_, ob := store.Observe(context.Background(), obs, st, op)
		ob.Fallback, ob.Retries = fallback, retries
		ob.End(err)
	}
	report("hybrid", store.OpGetTouch, nil, true, 0)
	report("hybrid", store.OpGetTouch, store.ErrNotFound, false, 0)
	report("hybrid", store.OpPut, store.ErrConflict, false, 0)
	report("hybrid", store.OpPut, errors.Join(store.ErrUnavailable, errors.New("dial tcp: refused")), false, 0)
	report("session", store.OpSave, nil, false, 2)
	report("session", store.OpLoad, context.DeadlineExceeded, false, 0)
	report("session:admin", store.OpSave, nil, false, 1) // a named session: load and save only
	report("custom", store.Op(200), nil, false, 0)       // out of range: ignored

	errs := gathered(t, reg, "sessions_store_errors_total")
	conflicts := gathered(t, reg, "sessions_store_conflicts_total")
	fallback := gathered(t, reg, "sessions_store_fallback_served_total")
	wantErrs := map[string]float64{"hybrid/put/unavailable": 1, "session/load/timeout": 1}
	wantConflicts := map[string]float64{"hybrid/put": 1, "session/save": 2, "session:admin/save": 1}
	wantFallback := map[string]float64{"hybrid/get_touch": 1}
	for _, c := range []struct {
		name      string
		got, want map[string]float64
	}{{"errors", errs, wantErrs}, {"conflicts", conflicts, wantConflicts}, {"fallback", fallback, wantFallback}} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
		for k, v := range c.want {
			if c.got[k] != v {
				t.Errorf("%s[%s] = %v, want %v", c.name, k, c.got[k], v)
			}
		}
	}
	if n := testutil.CollectAndCount(reg, "sessions_store_operation_duration_seconds"); n != int(store.NumOps)+2 {
		// hybrid: 11 store ops; session and session:admin: load and save.
		t.Errorf("%d duration series, want %d", n, store.NumOps+2)
	}
}

// TestNamespace: every metric, gauges and pools included, takes the
// configured prefix.
func TestNamespace(t *testing.T) {
	m, reg := newMetrics(t, metrics.Options{Namespace: "web_sessions"})
	if err := m.RegisterAuditDrops(func() uint64 { return 0 }); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterRedisPool("main", testserver.RedisClient(t)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 10 {
		t.Fatalf("%d families", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "web_sessions_") {
			t.Errorf("%s: not under the namespace", mf.GetName())
		}
	}
}

// TestPools registers the pools of a real Redis client and a real SQLite
// database, uses them, and checks the gauges move and lint clean.
func TestPools(t *testing.T) {
	m, reg := newMetrics(t, metrics.Options{ConstLabels: prometheus.Labels{"app": "web"}})
	rc := testserver.RedisClient(t)
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	db := sqliteStore(t, nil)
	if err := m.RegisterRedisPool("sessions", rc); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterRedisPool("sessions", rc); err == nil {
		t.Error("a second client under one name was accepted")
	}
	if err := m.RegisterRedisPool("x", nil); err == nil {
		t.Error("nil client accepted")
	}
	if err := m.RegisterDBStats("sessions", db.DB()); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDBStats("x", nil); err == nil {
		t.Error("nil db accepted")
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP sessions_redis_pool_connections Open connections of the Redis pool.
# TYPE sessions_redis_pool_connections gauge
sessions_redis_pool_connections{app="web",pool="sessions"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sessions_redis_pool_connections"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "go_sql_open_connections"); n != 1 {
		t.Errorf("go_sql_open_connections: %d series, want 1", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
