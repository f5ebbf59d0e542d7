package metrics_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
)

func newMetrics(t *testing.T, opts metrics.Options) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestHandleCountsEvents sends one event per row and checks the one series
// it must move, and that nothing else moved.
func TestHandleCountsEvents(t *testing.T) {
	tests := []struct {
		name   string
		ev     ginsession.Event
		metric string // exposition line that must read 1
	}{
		{"created", ginsession.Event{Kind: ginsession.EventCreated, Session: "h"}, "sessions_created_total 1"},
		{"created by a login", ginsession.Event{Kind: ginsession.EventRotated, Detail: "new"}, "sessions_created_total 1"},
		{"rotated", ginsession.Event{Kind: ginsession.EventRotated, Session: "old", Detail: "new"}, "sessions_rotated_total 1"},
		{"login", ginsession.Event{Kind: ginsession.EventLogin}, "sessions_logins_total 1"},
		{"logout", ginsession.Event{Kind: ginsession.EventLogout}, `sessions_destroyed_total{reason="logout"} 1`},
		{"revoked", ginsession.Event{Kind: ginsession.EventRevoked}, `sessions_destroyed_total{reason="revoked"} 1`},
		{"evicted", ginsession.Event{Kind: ginsession.EventEvicted}, `sessions_destroyed_total{reason="evicted"} 1`},
		{"expired", ginsession.Event{Kind: ginsession.EventExpired}, `sessions_destroyed_total{reason="expired"} 1`},
		{"rejected malformed", ginsession.Event{Kind: ginsession.EventRejected, Detail: ginsession.RejectMalformed}, `sessions_rejected_total{reason="malformed"} 1`},
		{"rejected fingerprint", ginsession.Event{Kind: ginsession.EventRejected, Detail: ginsession.RejectFingerprint}, `sessions_rejected_total{reason="fingerprint"} 1`},
		{"rejected, reason from elsewhere", ginsession.Event{Kind: ginsession.EventRejected, Detail: "<script>"}, `sessions_rejected_total{reason="other"} 1`},
		{"platform switched", ginsession.Event{Kind: ginsession.EventPlatformSwitched, Detail: "3"}, "sessions_platform_switches_total 1"},
		{"fallback engaged", ginsession.Event{Kind: ginsession.EventFallbackEngaged}, `sessions_fallback_transitions_total{to="engaged"} 1`},
		{"fallback recovered", ginsession.Event{Kind: ginsession.EventFallbackRecovered}, `sessions_fallback_transitions_total{to="recovered"} 1`},
		{"declared extra kind", ginsession.Event{Kind: "imported"}, `sessions_other_events_total{kind="imported"} 1`},
		{"undeclared kind", ginsession.Event{Kind: "x\"y"}, `sessions_other_events_total{kind="unknown"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t, metrics.Options{ExtraEventKinds: []ginsession.EventKind{"imported"}})
			before := exposition(t, reg)
			if strings.Contains(before, tt.metric) {
				t.Fatalf("%q before any event", tt.metric)
			}
			m.Handle(tt.ev)
			after := exposition(t, reg)
			if !strings.Contains(after, tt.metric+"\n") {
				t.Fatalf("no %q in\n%s", tt.metric, after)
			}
			// Exactly one series changed: every other line is as before.
			changed := 0
			b := strings.Split(before, "\n")
			for i, line := range strings.Split(after, "\n") {
				if i >= len(b) || line != b[i] {
					changed++
				}
			}
			if changed != 1 {
				t.Errorf("%d lines changed, want 1:\n%s", changed, after)
			}
		})
	}
}

// exposition is the registry's session event metrics in the text format,
// every series included (they are all initialised at zero).
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "sessions_store_") {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&sb, mf); err != nil {
			t.Fatal(err)
		}
	}
	return sb.String()
}

// TestExposition pins names, help, types and zero-initialised label sets
// of the destroy and reject counters.
func TestExposition(t *testing.T) {
	m, reg := newMetrics(t, metrics.Options{ConstLabels: prometheus.Labels{"app": "web"}})
	m.Handle(ginsession.Event{Kind: ginsession.EventLogout})
	m.Handle(ginsession.Event{Kind: ginsession.EventLogout})
	m.Handle(ginsession.Event{Kind: ginsession.EventExpired})
	m.Handle(ginsession.Event{Kind: ginsession.EventRejected, Detail: ginsession.RejectUnknown})
	const want = `
# HELP sessions_destroyed_total Sessions ended, by reason.
# TYPE sessions_destroyed_total counter
sessions_destroyed_total{app="web",reason="evicted"} 0
sessions_destroyed_total{app="web",reason="expired"} 1
sessions_destroyed_total{app="web",reason="logout"} 2
sessions_destroyed_total{app="web",reason="revoked"} 0
# HELP sessions_rejected_total Session cookies or entries refused, by reason.
# TYPE sessions_rejected_total counter
sessions_rejected_total{app="web",reason="corrupt"} 0
sessions_rejected_total{app="web",reason="decrypt"} 0
sessions_rejected_total{app="web",reason="fingerprint"} 0
sessions_rejected_total{app="web",reason="malformed"} 0
sessions_rejected_total{app="web",reason="other"} 0
sessions_rejected_total{app="web",reason="unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sessions_destroyed_total", "sessions_rejected_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestNewRefuses(t *testing.T) {
	taken := prometheus.NewRegistry()
	if _, err := metrics.New(taken, metrics.Options{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		reg  prometheus.Registerer
		opts metrics.Options
		want string
	}{
		{"nil registerer", nil, metrics.Options{}, "nil prometheus.Registerer"},
		{"buckets not increasing", prometheus.NewRegistry(), metrics.Options{Buckets: []float64{1, 1}}, "strictly increasing"},
		{"buckets with NaN", prometheus.NewRegistry(), metrics.Options{Buckets: []float64{1, nan()}}, "strictly increasing"},
		{"reserved extra kind", prometheus.NewRegistry(), metrics.Options{ExtraEventKinds: []ginsession.EventKind{"unknown"}}, "reserved"},
		{"const label clashing with a label", prometheus.NewRegistry(), metrics.Options{ConstLabels: prometheus.Labels{"reason": "x"}}, "register"},
		{"registered twice", taken, metrics.Options{}, "register"},
		{"namespace with a dash", prometheus.NewRegistry(), metrics.Options{Namespace: "my-app"}, "Namespace"},
		{"namespace with a colon", prometheus.NewRegistry(), metrics.Options{Namespace: "a:b"}, "Namespace"},
		{"namespace starting with a digit", prometheus.NewRegistry(), metrics.Options{Namespace: "1app"}, "Namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := metrics.New(tt.reg, tt.opts)
			if err == nil || m != nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "metrics: ") {
				t.Fatalf("New = %v, %v; want an error containing %q", m, err, tt.want)
			}
		})
	}
	// A failed New leaves nothing half-registered: once the clash is gone,
	// New on the same registry works. The clash is on the last metric New
	// registers, so every other one was registered and must be rolled back.
	reg := prometheus.NewRegistry()
	squatter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessions_store_fallback_served_total", Help: "Session store operations a hybrid store's secondary served.",
	}, []string{"store", "op"})
	reg.MustRegister(squatter)
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Fatal("New on a registry holding sessions_store_fallback_served_total succeeded")
	}
	reg.Unregister(squatter)
	if _, err := metrics.New(reg, metrics.Options{}); err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
}

func nan() float64 { z := 0.0; return z / z }

// TestStoreErrorsByKind drives an observed SQLite store into each outcome and
// checks which counter moved.
func TestStoreErrorsByKind(t *testing.T) {
	ctx := context.Background()
	entry := func(key string, version uint64, payload int) *store.Entry {
		now := time.Now()
		e := &store.Entry{Key: key, Version: version, Created: now, LastActivity: now,
			IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour), Payload: make([]byte, payload)}
		e.Normalize()
		return e
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		do   func(st *dbstore.Store, key string) error
		op   string
		kind string // "" for no error series; "conflict" for the conflict counter
	}{
		{"get missing is no error", func(st *dbstore.Store, key string) error {
			_, err := st.Get(ctx, key)
			return ignore(err, store.ErrNotFound)
		}, "get", ""},
		{"touch missing is no error", func(st *dbstore.Store, key string) error {
			return ignore(st.Touch(ctx, key, time.Now(), time.Now().Add(time.Hour)), store.ErrNotFound)
		}, "touch", ""},
		{"create twice is a conflict", func(st *dbstore.Store, key string) error {
			if err := st.Put(ctx, entry(key, 1, 1), 0); err != nil {
				return err
			}
			return ignore(st.Put(ctx, entry(key, 1, 1), 0), store.ErrConflict)
		}, "put", "conflict"},
		{"version not above prev is invalid", func(st *dbstore.Store, key string) error {
			return ignore(st.Put(ctx, entry(key, 1, 1), 1), store.ErrInvalid)
		}, "put", metrics.KindInvalid},
		{"malformed key is invalid", func(st *dbstore.Store, _ string) error {
			_, err := st.Get(ctx, "../etc/passwd")
			return ignore(err, store.ErrInvalid)
		}, "get", metrics.KindInvalid},
		{"oversized payload", func(st *dbstore.Store, key string) error {
			return ignore(st.Put(ctx, entry(key, 1, 2<<20), 0), store.ErrTooLarge)
		}, "put", metrics.KindTooLarge},
		{"canceled context", func(st *dbstore.Store, key string) error {
			_, err := st.Get(canceled, key)
			return ignore(err, context.Canceled)
		}, "get", metrics.KindCanceled},
		{"deadline passed", func(st *dbstore.Store, key string) error {
			return ignore(st.Delete(expired, key), context.DeadlineExceeded)
		}, "delete", metrics.KindTimeout},
		{"closed database is unavailable", func(st *dbstore.Store, key string) error {
			_ = st.Close()
			_, err := st.Get(ctx, key)
			return ignore(err, store.ErrUnavailable)
		}, "get", metrics.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t, metrics.Options{})
			st := sqliteStore(t, m.Observer())
			if err := tt.do(st, store.NewToken().Key()); err != nil {
				t.Fatalf("unexpected outcome: %v", err)
			}
			errs := gathered(t, reg, "sessions_store_errors_total")
			conflicts := gathered(t, reg, "sessions_store_conflicts_total")
			switch tt.kind {
			case "":
				if len(errs)+len(conflicts) != 0 {
					t.Errorf("errors %v, conflicts %v; want none", errs, conflicts)
				}
			case "conflict":
				if len(errs) != 0 || conflicts["database/"+tt.op] != 1 || len(conflicts) != 1 {
					t.Errorf("errors %v, conflicts %v; want one %s conflict", errs, conflicts, tt.op)
				}
			default:
				key := "database/" + tt.op + "/" + tt.kind
				if len(conflicts) != 0 || errs[key] != 1 || len(errs) != 1 {
					t.Errorf("errors %v, conflicts %v; want only %s", errs, conflicts, key)
				}
			}
		})
	}
}

// ignore turns the expected error into nil and anything else into an error.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	if err == nil {
		return errors.New("no error, want " + want.Error())
	}
	return err
}

// gathered returns the non-zero counters of one family, keyed by
// "store/op" or "store/op/kind".
func gathered(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			parts := []string{labels["store"], labels["op"]}
			if k, ok := labels["kind"]; ok {
				parts = append(parts, k)
			}
			if v := m.GetCounter().GetValue(); v != 0 {
				out[strings.Join(parts, "/")] = v
			}
		}
	}
	return out
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{store.ErrNotFound, ""},
		{errors.Join(store.ErrConflict, errors.New("x")), ""},
		{errors.Join(store.ErrUnavailable, context.DeadlineExceeded), metrics.KindTimeout},
		{errors.Join(store.ErrUnavailable, timeoutErr{}), metrics.KindTimeout},
		{errors.Join(store.ErrUnavailable, errors.New("refused")), metrics.KindUnavailable},
		{context.Canceled, metrics.KindCanceled},
		{store.ErrTooLarge, metrics.KindTooLarge},
		{store.ErrInvalid, metrics.KindInvalid},
		{store.ErrCorrupt, metrics.KindCorrupt},
		{errors.New("boom"), metrics.KindOther},
	}
	for _, tt := range tests {
		if got := metrics.ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// timeoutErr is a net.Error that timed out, as go-redis returns.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestRegisterHybridAndAuditDrops reads the app's funcs at each scrape.
func TestRegisterHybridAndAuditDrops(t *testing.T) {
	m, reg := newMetrics(t, metrics.Options{ConstLabels: prometheus.Labels{"app": "web"}})
	var engaged atomic.Bool
	var depth atomic.Int64
	var dropped atomic.Uint64
	stats := func() hybrid.Status {
		return hybrid.Status{Engaged: engaged.Load(), QueueDepth: int(depth.Load()), QueueLag: 1500 * time.Millisecond}
	}
	if err := m.RegisterHybrid(stats); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterAuditDrops(dropped.Load); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"sessions_hybrid_engaged", "sessions_hybrid_queue_depth",
			"sessions_hybrid_mirror_lag_seconds", "sessions_audit_dropped_total")
		if err != nil {
			t.Error(err)
		}
	}
	check(`
# HELP sessions_audit_dropped_total Session audit events dropped because the audit queue was full.
# TYPE sessions_audit_dropped_total counter
sessions_audit_dropped_total{app="web"} 0
# HELP sessions_hybrid_engaged 1 while the hybrid store serves from its secondary store, else 0.
# TYPE sessions_hybrid_engaged gauge
sessions_hybrid_engaged{app="web"} 0
# HELP sessions_hybrid_mirror_lag_seconds Age of the oldest write waiting in the hybrid store's mirror queue, in seconds.
# TYPE sessions_hybrid_mirror_lag_seconds gauge
sessions_hybrid_mirror_lag_seconds{app="web"} 1.5
# HELP sessions_hybrid_queue_depth Session writes waiting in the hybrid store's mirror queue.
# TYPE sessions_hybrid_queue_depth gauge
sessions_hybrid_queue_depth{app="web"} 0
`)
	engaged.Store(true)
	depth.Store(17)
	dropped.Store(3)
	check(`
# HELP sessions_audit_dropped_total Session audit events dropped because the audit queue was full.
# TYPE sessions_audit_dropped_total counter
sessions_audit_dropped_total{app="web"} 3
# HELP sessions_hybrid_engaged 1 while the hybrid store serves from its secondary store, else 0.
# TYPE sessions_hybrid_engaged gauge
sessions_hybrid_engaged{app="web"} 1
# HELP sessions_hybrid_mirror_lag_seconds Age of the oldest write waiting in the hybrid store's mirror queue, in seconds.
# TYPE sessions_hybrid_mirror_lag_seconds gauge
sessions_hybrid_mirror_lag_seconds{app="web"} 1.5
# HELP sessions_hybrid_queue_depth Session writes waiting in the hybrid store's mirror queue.
# TYPE sessions_hybrid_queue_depth gauge
sessions_hybrid_queue_depth{app="web"} 17
`)
	for name, err := range map[string]error{
		"second hybrid":   m.RegisterHybrid(stats),
		"second audit":    m.RegisterAuditDrops(dropped.Load),
		"nil hybrid func": m.RegisterHybrid(nil),
		"nil audit func":  m.RegisterAuditDrops(nil),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("%s: %v, want a metrics: error", name, err)
		}
	}
}
