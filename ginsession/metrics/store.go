package metrics

//go:generate go run gen_wrappers.go

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedfolnir/sessions/store"
)

// op is a store operation, the "op" label of the store metrics.
type op int

const (
	opGet op = iota
	opPut
	opDelete
	opTouch
	opGetTouch
	opListUser
	opDeleteUser
	opCopyIn
	opPing
	opPublish
	opSubscribe
	numOps
)

var opNames = [numOps]string{
	opGet:        "get",
	opPut:        "put",
	opDelete:     "delete",
	opTouch:      "touch",
	opGetTouch:   "get_touch",
	opListUser:   "list_user",
	opDeleteUser: "delete_user",
	opCopyIn:     "copy_in",
	opPing:       "ping",
	opPublish:    "publish",
	opSubscribe:  "subscribe",
}

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

// ErrorKind classifies a store error into one of the Kind constants. It
// returns "" for nil, store.ErrNotFound (an answer, not a failure) and
// store.ErrConflict (counted on its own, in sessions_store_conflicts_total).
func ErrorKind(err error) string {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, store.ErrUnavailable):
		return KindUnavailable
	case errors.Is(err, store.ErrTooLarge):
		return KindTooLarge
	case errors.Is(err, store.ErrInvalid):
		return KindInvalid
	case errors.Is(err, store.ErrCorrupt):
		return KindCorrupt
	}
	return KindOther
}

// InstrumentStore returns st measured under the store label name: the
// latency of every operation in sessions_store_operation_duration_seconds
// {store,op}, failures in sessions_store_errors_total{store,op,kind} and
// compare-and-set conflicts in sessions_store_conflicts_total{store,op}.
// store.ErrNotFound is an answer, not a failure, and is not counted.
//
// The result implements exactly the optional capabilities st implements
// (store.GetToucher, store.UserIndex, store.Copier, store.Pinger,
// store.Broker), no more and no fewer, so code that detects them by type
// assertion (ginsession.NewManager does) behaves as it would on st. It also
// has an Unwrap() store.Store method returning st. Other methods of st
// (Close, say) are not forwarded: keep st to call them.
//
// name should be a short constant such as "redis" or "database"; it is
// used as it is, and "store" when empty. Instrument a store once per name:
// two wrappers with one name share their series.
func (m *Metrics) InstrumentStore(name string, st store.Store) store.Store {
	if name == "" {
		name = "store"
	}
	in := &inst{name: name, m: m, st: st}
	mask := 0
	if v, ok := st.(store.GetToucher); ok {
		in.gt, mask = v, mask|1<<0
	}
	if v, ok := st.(store.UserIndex); ok {
		in.ui, mask = v, mask|1<<1
	}
	if v, ok := st.(store.Copier); ok {
		in.cp, mask = v, mask|1<<2
	}
	if v, ok := st.(store.Pinger); ok {
		in.pg, mask = v, mask|1<<3
	}
	if v, ok := st.(store.Broker); ok {
		in.br, mask = v, mask|1<<4
	}
	// Resolve the latency series of the operations st has now, so the hot
	// path does no label lookup and no series exists for an operation the
	// store cannot do.
	ops := []op{opGet, opPut, opDelete, opTouch}
	if in.gt != nil {
		ops = append(ops, opGetTouch)
	}
	if in.ui != nil {
		ops = append(ops, opListUser, opDeleteUser)
	}
	if in.cp != nil {
		ops = append(ops, opCopyIn)
	}
	if in.pg != nil {
		ops = append(ops, opPing)
	}
	if in.br != nil {
		ops = append(ops, opPublish, opSubscribe)
	}
	for _, o := range ops {
		in.dur[o] = m.storeDuration.WithLabelValues(name, opNames[o])
	}
	return wrappers[mask](in)
}

// inst is the instrumentation shared by every wrapper type: the base
// methods of store.Store. The capability mixins add the rest.
type inst struct {
	name string
	m    *Metrics
	st   store.Store
	gt   store.GetToucher
	ui   store.UserIndex
	cp   store.Copier
	pg   store.Pinger
	br   store.Broker
	dur  [numOps]prometheus.Observer
}

// done records one operation that started at start and ended with err.
func (in *inst) done(o op, start time.Time, err error) {
	in.dur[o].Observe(time.Since(start).Seconds())
	if err != nil {
		in.fail(o, err)
	}
}

// fail counts a failed operation. Failures are rare, so their series are
// looked up here rather than resolved in advance.
func (in *inst) fail(o op, err error) {
	if errors.Is(err, store.ErrConflict) {
		in.m.storeConflicts.WithLabelValues(in.name, opNames[o]).Inc()
		return
	}
	if kind := ErrorKind(err); kind != "" {
		in.m.storeErrors.WithLabelValues(in.name, opNames[o], kind).Inc()
	}
}

// Unwrap returns the store being measured.
func (in *inst) Unwrap() store.Store { return in.st }

// Get is store.Store.Get, measured.
func (in *inst) Get(ctx context.Context, key string) (*store.Entry, error) {
	t := time.Now()
	e, err := in.st.Get(ctx, key)
	in.done(opGet, t, err)
	return e, err
}

// Put is store.Store.Put, measured.
func (in *inst) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	t := time.Now()
	err := in.st.Put(ctx, e, prev)
	in.done(opPut, t, err)
	return err
}

// Delete is store.Store.Delete, measured.
func (in *inst) Delete(ctx context.Context, key string) error {
	t := time.Now()
	err := in.st.Delete(ctx, key)
	in.done(opDelete, t, err)
	return err
}

// Touch is store.Store.Touch, measured.
func (in *inst) Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) error {
	t := time.Now()
	err := in.st.Touch(ctx, key, lastActivity, idleDeadline)
	in.done(opTouch, t, err)
	return err
}

// getToucher adds store.GetToucher to a wrapper.
type getToucher struct{ in *inst }

// GetTouch is store.GetToucher.GetTouch, measured.
func (w getToucher) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*store.Entry, error) {
	t := time.Now()
	e, err := w.in.gt.GetTouch(ctx, key, now, idle, touchBefore)
	w.in.done(opGetTouch, t, err)
	return e, err
}

// userIndex adds store.UserIndex to a wrapper.
type userIndex struct{ in *inst }

// ListUser is store.UserIndex.ListUser, measured.
func (w userIndex) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	t := time.Now()
	es, err := w.in.ui.ListUser(ctx, userID)
	w.in.done(opListUser, t, err)
	return es, err
}

// DeleteUser is store.UserIndex.DeleteUser, measured.
func (w userIndex) DeleteUser(ctx context.Context, userID string, keep string) (int, error) {
	t := time.Now()
	n, err := w.in.ui.DeleteUser(ctx, userID, keep)
	w.in.done(opDeleteUser, t, err)
	return n, err
}

// copier adds store.Copier to a wrapper.
type copier struct{ in *inst }

// CopyIn is store.Copier.CopyIn, measured.
func (w copier) CopyIn(ctx context.Context, e *store.Entry) (bool, error) {
	t := time.Now()
	ok, err := w.in.cp.CopyIn(ctx, e)
	w.in.done(opCopyIn, t, err)
	return ok, err
}

// pinger adds store.Pinger to a wrapper.
type pinger struct{ in *inst }

// Ping is store.Pinger.Ping, measured.
func (w pinger) Ping(ctx context.Context) error {
	t := time.Now()
	err := w.in.pg.Ping(ctx)
	w.in.done(opPing, t, err)
	return err
}

// broker adds store.Broker to a wrapper.
type broker struct{ in *inst }

// Publish is store.Broker.Publish, measured.
func (w broker) Publish(ctx context.Context, topic string, msg []byte) error {
	t := time.Now()
	err := w.in.br.Publish(ctx, topic, msg)
	w.in.done(opPublish, t, err)
	return err
}

// Subscribe is store.Broker.Subscribe; the time measured is that of
// setting up the subscription, not of its life.
func (w broker) Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error) {
	t := time.Now()
	ch, err := w.in.br.Subscribe(ctx, topics...)
	w.in.done(opSubscribe, t, err)
	return ch, err
}
