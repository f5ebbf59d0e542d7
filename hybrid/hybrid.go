package hybrid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/vedfolnir/sessions/store"
)

// Store composes two stores into one: a fast primary (Redis) that serves,
// and a durable secondary (SQL) that mirrors every session and takes over
// when the primary fails. It implements [store.Store], [store.GetToucher],
// [store.UserIndex], [store.Copier] and [store.Pinger], and passes the
// storetest suite like any store. The package documentation tells how it
// routes, mirrors and recovers. Build it with [New]; Close it at shutdown.
type Store struct {
	opts Options
	log  *slog.Logger
	sec  *member
	cur  atomic.Pointer[member]
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]

	tripNow   atomic.Bool  // the next reported failure opens the breaker
	engaged   atomic.Bool  // calls go to the secondary
	flip      sync.RWMutex // engaged calls hold it shared; recovery exclusively
	trustFrom trustCut
	latestGen atomic.Uint64
	// pendingBump: the secondary was written without the primary since the
	// last generation increment.
	pendingBump atomic.Bool
	mirrorDown  atomic.Bool // mirror writes fail: queue them without trying

	epochMu sync.Mutex
	epoch   context.Context // cancelled when the store engages
	endEp   context.CancelFunc

	omu       sync.Mutex
	dirty     map[string]struct{} // keys touched while engaged
	dirtyLost bool                // dirty overflowed MaxOutageKeys
	// lostLogged: the overflow was reported (the supervisor's own flag).
	lostLogged bool
	engagedAt  time.Time

	q  mirrorQueue
	fl fleet
	mb copyBatcher // group commit of write-through mirror writes

	wake      chan struct{}
	stop      context.CancelFunc
	bg        sync.WaitGroup // supervisor and workers
	warmers   sync.WaitGroup
	closeOnce sync.Once

	n counters
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.GetToucher = (*Store)(nil)
	_ store.UserIndex  = (*Store)(nil)
	_ store.Copier     = (*Store)(nil)
	_ store.Pinger     = (*Store)(nil)
)

// member is one store of the composition with its capabilities, detected
// once.
type member struct {
	s   store.Store
	c   store.Copier
	ui  store.UserIndex
	gt  store.GetToucher // nil: Get, then Touch
	p   store.Pinger     // nil: a Get stands in
	gen uint64
}

func newMember(role string, s store.Store, gen uint64) (*member, error) {
	if s == nil {
		return nil, fmt.Errorf("hybrid: %s: %w: nil store", role, store.ErrInvalid)
	}
	c, ok := s.(store.Copier)
	if !ok {
		return nil, fmt.Errorf("hybrid: %s: %w: %T does not implement store.Copier", role, store.ErrInvalid, s)
	}
	ui, ok := s.(store.UserIndex)
	if !ok {
		return nil, fmt.Errorf("hybrid: %s: %w: %T does not implement store.UserIndex", role, store.ErrInvalid, s)
	}
	m := &member{s: s, c: c, ui: ui, gen: gen}
	m.gt, _ = s.(store.GetToucher)
	m.p, _ = s.(store.Pinger)
	return m, nil
}

func (m *member) getTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*store.Entry, error) {
	if m.gt != nil {
		return m.gt.GetTouch(ctx, key, now, idle, touchBefore)
	}
	e, err := m.s.Get(ctx, key)
	if err != nil || !e.LastActivity.Before(touchBefore) {
		return e, err
	}
	la, id := store.Millis(now), store.Millis(now.Add(idle))
	if id.After(e.AbsoluteDeadline) {
		id = e.AbsoluteDeadline
	}
	if err := m.s.Touch(ctx, key, la, id); err != nil {
		return nil, err
	}
	e.LastActivity, e.IdleDeadline = la, id
	return e, nil
}

func (m *member) ping(ctx context.Context) error {
	if m.p != nil {
		return m.p.Ping(ctx)
	}
	_, err := m.s.Get(ctx, store.NewToken().Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// New returns a Store serving from primary and mirroring into
// secondary. Both must implement [store.Copier] and [store.UserIndex]; [store.GetToucher] and
// [store.Pinger] are used when present. The caller keeps ownership of both
// stores; Close stops the store's goroutines and drains its queue.
func New(primary, secondary store.Store, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	p, err := newMember("primary", primary, opts.Generation.Number)
	if err != nil {
		return nil, err
	}
	s, err := newMember("secondary", secondary, 0)
	if err != nil {
		return nil, err
	}
	h := &Store{
		opts:  opts,
		log:   opts.Logger,
		sec:   s,
		dirty: map[string]struct{}{},
		wake:  make(chan struct{}, 1),
	}
	h.cur.Store(p)
	h.mb.bc, _ = secondary.(store.BatchCopier)
	h.latestGen.Store(opts.Generation.Number)
	h.trustFrom.Store(msOf(opts.Generation.TrustFrom))
	h.epoch, h.endEp = context.WithCancel(context.Background())
	h.fl.start, h.fl.id = time.Now(), store.Handle(store.NewToken().Key())
	h.fl.lastPoll.Store(-int64(time.Hour)) // not polled yet: suspicious
	h.fl.movedAt.Store(-int64(time.Hour))
	h.q.init(opts.QueueSize)
	threshold := uint32(opts.FailureThreshold)
	h.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "sessions-primary",
		MaxRequests: 1,
		Timeout:     opts.ProbeInterval,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= threshold || h.tripNow.Swap(false)
		},
		IsExcluded: func(err error) bool { return err == errExcluded },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				h.engage()
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.bg.Add(1 + opts.MirrorWorkers)
	go h.supervise(ctx)
	if h.coordinated() {
		h.bg.Add(1)
		go h.fleetLoop(ctx)
	}
	for range opts.MirrorWorkers {
		go h.mirrorWorker(ctx)
	}
	return h, nil
}

// Close stops the probes and the generation upkeep, copies what the mirror
// queue still holds into the secondary (for at most CloseTimeout), and
// waits for the store's goroutines. It does not close the two stores.
// Later calls return nil.
func (h *Store) Close() error {
	var err error
	h.closeOnce.Do(func() {
		h.stop()
		h.bg.Wait()
		h.warmers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.CloseTimeout)
		defer cancel()
		if n := h.flushAll(ctx); n > 0 {
			err = fmt.Errorf("hybrid: close: %w: %d mirror writes not applied", store.ErrUnavailable, n)
		}
	})
	return err
}

// Sentinels the breaker sees: errOutage fails, errExcluded (the caller's
// own cancellation) counts neither way.
var (
	errOutage   = errors.New("hybrid: primary outage")
	errExcluded = errors.New("hybrid: caller cancelled")
	errRetry    = errors.New("hybrid: state changed, retry")
)

// outage reports whether err means the backend could not answer, as
// opposed to an answer (not found, conflict, too large, invalid).
func outage(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// counters are the store's lifetime counters.
type counters struct {
	failovers, engagements, recoveries, refills, divergences atomic.Uint64
	bumps, switches, mirrorErrors                            atomic.Uint64
	mirrorBatches, mirrorBatched                             atomic.Uint64
}

// Engaged reports whether calls currently go to the secondary.
func (h *Store) Engaged() bool { return h.engaged.Load() }

// Primary returns the primary store in use (the current generation's
// namespace).
func (h *Store) Primary() store.Store { return h.cur.Load().s }

// Secondary returns the secondary store.
func (h *Store) Secondary() store.Store { return h.sec.s }
