package metrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
)

// DefaultNamespace is the default prefix of every metric name.
const DefaultNamespace = "sessions"

// DefaultStores are the store labels whose series exist from [New] when
// Options.Stores is nil: the stores of this module.
var DefaultStores = []string{"redis", "database", "hybrid"}

// DefaultBuckets are the store latency histogram's buckets, in seconds:
// 100µs to 5s. Session operations take well under a millisecond on a
// local Redis and a few milliseconds on SQL, so the default Prometheus
// buckets (from 5ms) would put almost everything in the first one.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Destroy reasons, the "reason" label of sessions_destroyed_total: the
// event kinds that end a session.
var destroyReasons = []ginsession.EventKind{
	ginsession.EventLogout, ginsession.EventRevoked, ginsession.EventEvicted, ginsession.EventExpired,
}

// Reject reasons, the "reason" label of sessions_rejected_total:
// ginsession's own, and "other" for any other Detail.
var rejectReasons = []string{
	ginsession.RejectMalformed, ginsession.RejectUnknown, ginsession.RejectDecrypt,
	ginsession.RejectCorrupt, ginsession.RejectFingerprint, reasonOther,
}

const (
	reasonOther = "other"
	kindUnknown = "unknown"
)

// Options configures [New]. The zero value is ready to use.
type Options struct {
	// Namespace is the prefix of every metric name: a Prometheus name of
	// letters, digits and underscores. Default [DefaultNamespace]
	// ("sessions"); the names below are given with it.
	Namespace string
	// Stores are the store labels whose operation, error, conflict and
	// fallback series exist, at zero, from New, so alerts on them work
	// before the first failure; "session" (ginsession's loads and saves)
	// always does. A label outside the list gets its series at its first
	// operation. Default [DefaultStores]; an empty non-nil slice for none.
	Stores []string
	// Buckets of sessions_store_operation_duration_seconds, in seconds,
	// strictly increasing. Default [DefaultBuckets].
	Buckets []float64
	// ConstLabels are added to every metric (an "app" label when several
	// apps share a registry, say). Default none.
	ConstLabels prometheus.Labels
	// ExtraEventKinds are event kinds beyond ginsession's own (an
	// extension's, such as the migrate package's "imported") counted by
	// name in sessions_other_events_total{kind}. Any other unknown kind is
	// counted there as kind="unknown", so a label value is never taken
	// from an event as it arrives. Default none.
	ExtraEventKinds []ginsession.EventKind
}

// Metrics holds the session metrics of one app, registered on the
// [prometheus.Registerer] given to [New]. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg prometheus.Registerer
	cl  prometheus.Labels
	ns  string

	observer store.Observer
	end      func(store.Result)
	stores   seriesSet

	created    prometheus.Counter
	logins     prometheus.Counter
	rotated    prometheus.Counter
	switches   prometheus.Counter
	destroyed  map[ginsession.EventKind]prometheus.Counter
	rejected   map[string]prometheus.Counter
	fallback   map[ginsession.EventKind]prometheus.Counter
	other      map[ginsession.EventKind]prometheus.Counter
	otherUnkwn prometheus.Counter

	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
	storeConflicts *prometheus.CounterVec
	storeFallback  *prometheus.CounterVec
}

// New creates the session metrics and registers them on reg. A nil reg, bad
// buckets, or metrics already registered on reg (New called twice with one
// registry) are errors.
//
// Metrics registered:
//
//	sessions_created_total                         sessions stored for the first time
//	sessions_logins_total                          logins
//	sessions_rotated_total                         token rotations of stored sessions
//	sessions_destroyed_total{reason}               logout | revoked | evicted | expired
//	sessions_rejected_total{reason}                malformed | unknown | decrypt | corrupt | fingerprint | other
//	sessions_platform_switches_total               platform switches
//	sessions_fallback_transitions_total{to}        engaged | recovered
//	sessions_other_events_total{kind}              Options.ExtraEventKinds | unknown
//	sessions_store_operation_duration_seconds{store,op}
//	sessions_store_errors_total{store,op,kind}     kind: see ErrorKind
//	sessions_store_conflicts_total{store,op}
//	sessions_store_fallback_served_total{store,op}
//
// (see [Metrics.Observer] for the store series),
// and, once their sources are given, the gauges of [Metrics.RegisterHybrid],
// [Metrics.RegisterRedisPool] and [Metrics.RegisterDBStats] and the counter
// of [Metrics.RegisterAuditDrops].
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil prometheus.Registerer")
	}
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("metrics: Buckets must be strictly increasing, got %v", buckets)
		}
	}
	for _, k := range opts.ExtraEventKinds {
		if k == "" || k == kindUnknown {
			return nil, fmt.Errorf("metrics: ExtraEventKinds: %q is reserved", k)
		}
	}

	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if !model.LegacyValidation.IsValidMetricName(ns) || strings.Contains(ns, ":") {
		return nil, fmt.Errorf("metrics: Namespace %q is not a metric name", ns)
	}
	stores := opts.Stores
	if stores == nil {
		stores = DefaultStores
	}

	cl := maps.Clone(opts.ConstLabels)
	m := &Metrics{reg: reg, cl: cl, ns: ns}
	m.observer, m.end = m.observe, m.end0
	empty := map[string]*storeSeries{}
	m.stores.m.Store(&empty)
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl})
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help, ConstLabels: cl}, labels)
	}
	m.created = counter("created_total", "Sessions stored for the first time.")
	m.logins = counter("logins_total", "Logins.")
	m.rotated = counter("rotated_total", "Token rotations of stored sessions (logins included).")
	m.switches = counter("platform_switches_total", "Platform switches.")
	destroyed := counterVec("destroyed_total", "Sessions ended, by reason.", "reason")
	rejected := counterVec("rejected_total", "Session cookies or entries refused, by reason.", "reason")
	fallback := counterVec("fallback_transitions_total", "Storage fallback transitions, by the state entered.", "to")
	other := counterVec("other_events_total", "Session events of kinds outside ginsession's own.", "kind")

	m.destroyed = map[ginsession.EventKind]prometheus.Counter{}
	for _, k := range destroyReasons {
		m.destroyed[k] = destroyed.WithLabelValues(string(k))
	}
	m.rejected = map[string]prometheus.Counter{}
	for _, r := range rejectReasons {
		m.rejected[r] = rejected.WithLabelValues(r)
	}
	m.fallback = map[ginsession.EventKind]prometheus.Counter{
		ginsession.EventFallbackEngaged:   fallback.WithLabelValues("engaged"),
		ginsession.EventFallbackRecovered: fallback.WithLabelValues("recovered"),
	}
	m.other = map[ginsession.EventKind]prometheus.Counter{}
	for _, k := range opts.ExtraEventKinds {
		m.other[k] = other.WithLabelValues(string(k))
	}
	m.otherUnkwn = other.WithLabelValues(kindUnknown)

	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "store_operation_duration_seconds",
		Help:    "Latency of session store operations (and of session loads and saves, store=\"session\"), by store and operation.",
		Buckets: slices.Clone(buckets), ConstLabels: cl,
	}, []string{"store", "op"})
	m.storeErrors = counterVec("store_errors_total",
		"Failed session store operations, by store, operation and kind (not-found answers excluded).", "store", "op", "kind")
	m.storeConflicts = counterVec("store_conflicts_total",
		"Compare-and-set conflicts of session store operations (another writer won), retried saves included.", "store", "op")
	m.storeFallback = counterVec("store_fallback_served_total",
		"Session store operations a hybrid store's secondary served.", "store", "op")

	cs := []prometheus.Collector{m.created, m.logins, m.rotated, m.switches, destroyed, rejected,
		fallback, other, m.storeDuration, m.storeErrors, m.storeConflicts, m.storeFallback}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	m.series(sessionStore)
	for _, name := range stores {
		m.series(name)
	}
	return m, nil
}

// Handle counts one session event. It is a [ginsession.EventHandler]:
//
//	cfg.OnEvent = append(cfg.OnEvent, m.Handle)
//
// A rotation whose Session is empty (a session stored for the first time
// by a login) counts as created, not rotated. Label values come from fixed
// sets only; unknown reasons and kinds are counted as "other" and
// "unknown". Handle never blocks.
func (m *Metrics) Handle(ev ginsession.Event) {
	switch ev.Kind {
	case ginsession.EventCreated:
		m.created.Inc()
	case ginsession.EventLogin:
		m.logins.Inc()
	case ginsession.EventRotated:
		if ev.Session == "" {
			m.created.Inc()
		} else {
			m.rotated.Inc()
		}
	case ginsession.EventPlatformSwitched:
		m.switches.Inc()
	case ginsession.EventLogout, ginsession.EventRevoked, ginsession.EventEvicted, ginsession.EventExpired:
		m.destroyed[ev.Kind].Inc()
	case ginsession.EventRejected:
		c, ok := m.rejected[ev.Detail]
		if !ok {
			c = m.rejected[reasonOther]
		}
		c.Inc()
	case ginsession.EventFallbackEngaged, ginsession.EventFallbackRecovered:
		m.fallback[ev.Kind].Inc()
	default:
		c, ok := m.other[ev.Kind]
		if !ok {
			c = m.otherUnkwn
		}
		c.Inc()
	}
}

// RegisterHybrid exports the status of a hybrid store (usually
// (*hybrid.Store).Status, or storage's Hybrid().Status) as three gauges,
// read together once per scrape:
//
//	sessions_hybrid_engaged             1 while it serves from its secondary, else 0
//	sessions_hybrid_queue_depth         writes waiting in the mirror queue
//	sessions_hybrid_mirror_lag_seconds  age of the oldest waiting write
//
// status must be cheap and safe for concurrent use. Registering a second
// source is an error.
func (m *Metrics) RegisterHybrid(status func() hybrid.Status) error {
	if status == nil {
		return errors.New("metrics: RegisterHybrid: nil func")
	}
	if err := m.reg.Register(newHybridCollector(m.ns, status, m.constLabels())); err != nil {
		return fmt.Errorf("metrics: RegisterHybrid: %w", err)
	}
	return nil
}

// RegisterAuditDrops exports dropped as the counter
// sessions_audit_dropped_total: audit events lost because the audit
// writer's queue was full (the audit writer's Dropped method). dropped must
// never decrease. Registering a second source is an error.
func (m *Metrics) RegisterAuditDrops(dropped func() uint64) error {
	if dropped == nil {
		return errors.New("metrics: RegisterAuditDrops: nil func")
	}
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: m.ns, Name: "audit_dropped_total",
		Help:        "Session audit events dropped because the audit queue was full.",
		ConstLabels: m.constLabels(),
	}, func() float64 { return float64(dropped()) })
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: RegisterAuditDrops: %w", err)
	}
	return nil
}

// constLabels are Options.ConstLabels, for the metrics registered later.
func (m *Metrics) constLabels() prometheus.Labels { return m.cl }
