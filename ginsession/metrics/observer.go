package metrics

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedfolnir/sessions/store"
)

// Error kinds, the "kind" label of sessions_store_errors_total. A fixed
// set: the error text never becomes a label.
const (
	KindTimeout     = "timeout"     // the deadline passed (context or network timeout)
	KindCanceled    = "canceled"    // the caller's context was canceled
	KindUnavailable = "unavailable" // store.ErrUnavailable: the backend could not be reached
	KindTooLarge    = "too_large"   // store.ErrTooLarge
	KindInvalid     = "invalid"     // store.ErrInvalid
	KindCorrupt     = "corrupt"     // store.ErrCorrupt
	KindOther       = "other"       // anything else
)

// kinds are the Kind constants, in the order of the kind index.
var kinds = [...]string{KindTimeout, KindCanceled, KindUnavailable, KindTooLarge, KindInvalid, KindCorrupt, KindOther}

// ErrorKind classifies a store error into one of the Kind constants. It
// returns "" for nil, store.ErrNotFound (an answer, not a failure) and
// store.ErrConflict (counted on its own, in sessions_store_conflicts_total).
func ErrorKind(err error) string {
	if i := kindIndex(err); i >= 0 {
		return kinds[i]
	}
	return ""
}

// kindIndex is ErrorKind as an index into kinds, -1 for "".
func kindIndex(err error) int {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return -1
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return 0
	case errors.Is(err, context.Canceled):
		return 1
	case errors.Is(err, store.ErrUnavailable):
		return 2
	case errors.Is(err, store.ErrTooLarge):
		return 3
	case errors.Is(err, store.ErrInvalid):
		return 4
	case errors.Is(err, store.ErrCorrupt):
		return 5
	}
	return 6
}

// storeSeries are the resolved series of one store label, so an
// observation does no label lookup.
type storeSeries struct {
	dur       [store.NumOps]prometheus.Observer
	errs      [store.NumOps][len(kinds)]prometheus.Counter
	conflicts [store.NumOps]prometheus.Counter
	fallback  [store.NumOps]prometheus.Counter
}

// seriesSet holds the storeSeries of every store label seen, copied on
// write: the label set is small and fixed after start-up.
type seriesSet struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*storeSeries]
}

// storeOps are the operations whose series a store label gets: a store's
// methods, or a session's load and save for the "session" label and a
// named session's ("session:admin").
func storeOps(name string) []store.Op {
	if name == sessionStore || strings.HasPrefix(name, sessionStore+":") {
		return []store.Op{store.OpLoad, store.OpSave}
	}
	ops := make([]store.Op, 0, store.OpLoad)
	for o := store.Op(0); o < store.OpLoad; o++ {
		ops = append(ops, o)
	}
	return ops
}

// sessionStore is the store label of ginsession's own observations.
const sessionStore = "session"

// series returns the series of a store label, creating all of them (at
// zero) the first time the label is seen.
func (m *Metrics) series(name string) *storeSeries {
	if s := (*m.stores.m.Load())[name]; s != nil {
		return s
	}
	m.stores.mu.Lock()
	defer m.stores.mu.Unlock()
	cur := *m.stores.m.Load()
	if s := cur[name]; s != nil {
		return s
	}
	s := &storeSeries{}
	for _, o := range storeOps(name) {
		op := o.String()
		s.dur[o] = m.storeDuration.WithLabelValues(name, op)
		s.conflicts[o] = m.storeConflicts.WithLabelValues(name, op)
		s.fallback[o] = m.storeFallback.WithLabelValues(name, op)
		for k, kind := range kinds {
			s.errs[o][k] = m.storeErrors.WithLabelValues(name, op, kind)
		}
	}
	next := make(map[string]*storeSeries, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = s
	m.stores.m.Store(&next)
	return s
}

// Observer returns the [store.Observer] that measures the operations it
// is told of: give it to ginsession.Config.Observer and to the stores'
// Options.Observer (storage.Options.Observer sets them all).
//
//	sessions_store_operation_duration_seconds{store,op}  latency
//	sessions_store_errors_total{store,op,kind}           failures, kind: see ErrorKind
//	sessions_store_conflicts_total{store,op}             compare-and-set conflicts (retried saves included)
//	sessions_store_fallback_served_total{store,op}       calls a hybrid store's secondary served
//
// store.ErrNotFound is an answer, not a failure, and is not counted. The
// store label is the observed store's name ("redis", "database",
// "hybrid", and "session" for a session's load and save); every series of
// a store label exists, at zero, from [New] for Options.Stores and from
// the label's first operation for any other. An observation costs no
// allocation.
func (m *Metrics) Observer() store.Observer { return m.observer }

func (m *Metrics) observe(ctx context.Context, _ store.Call) (context.Context, func(store.Result)) {
	return ctx, m.end
}

func (m *Metrics) end0(r store.Result) {
	if r.Op >= store.NumOps {
		return
	}
	s := m.series(r.Store)
	if s.dur[r.Op] == nil {
		return // an operation outside the label's set
	}
	s.dur[r.Op].Observe(r.Duration.Seconds())
	if r.Fallback {
		s.fallback[r.Op].Inc()
	}
	if r.Retries > 0 {
		s.conflicts[r.Op].Add(float64(r.Retries))
	}
	if r.Err == nil {
		return
	}
	if errors.Is(r.Err, store.ErrConflict) {
		s.conflicts[r.Op].Inc()
		return
	}
	if k := kindIndex(r.Err); k >= 0 {
		s.errs[r.Op][k].Inc()
	}
}
