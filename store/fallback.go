package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Fallback composes two stores into one: a fast primary (Redis) that serves,
// and a durable secondary (SQL) that mirrors every session and takes over
// when the primary fails. It implements [Store], [GetToucher], [UserIndex],
// [Copier] and [Pinger], and passes the storetest suite like any store.
//
// # Healthy
//
// Reads go to the primary. A write is a compare-and-set on the primary,
// then a [Copier.CopyIn] of the same entry into the secondary: within the
// call by default (write-through), or from a background queue with
// [FallbackOptions.WriteBehind]. Deletes and touches go to both. When only
// the mirror write fails, the call still succeeds and the key goes on a
// bounded queue, coalesced per key (the latest state wins), that a few
// workers retry until the secondary answers again; [Fallback.Status]
// reports its depth and lag. A primary miss is looked up in the secondary
// and, when found, copied back into the primary (read-through refill): a
// primary that lost its data, or a new primary namespace, fills itself on
// demand.
//
// # Primary failure
//
// An outage error from the primary (one wrapping [ErrUnavailable], or a
// context deadline: never ErrNotFound, ErrConflict, ErrTooLarge, ...) makes
// the same call run on the secondary at once, so the caller sees no error.
// A circuit breaker (sony/gobreaker) opens after
// [FallbackOptions.FailureThreshold] consecutive failed reads, or at the
// first failed write (a write that went to the secondary alone leaves the
// primary stale for that key). While it is open, the fallback is engaged:
// every call goes straight to the secondary without waiting on the primary,
// and primary calls still in flight are cancelled. Every
// [FallbackOptions.ProbeInterval] a probe checks the primary; when it
// answers, the fallback recovers (below) and serves from the primary again.
// [FallbackOptions.OnStateChange] hears both transitions.
//
// # Recovery, and what one instance cannot know
//
// Sessions written or deleted during an outage exist in the secondary only.
// This instance remembers the keys it touched while engaged, but other
// instances of the application wrote during the same outage, or during a
// network partition that only they saw, and this instance cannot know their
// keys. A primary that comes back holding its old data (a frozen server, a
// partition) holds stale copies of those sessions: a logout undone, a
// platform switch reverted.
//
// So the fallback namespaces the primary by a generation
// ([FallbackOptions.Namespace], [Generation]), recorded in the secondary
// under a reserved key. Any instance that wrote the secondary without the
// primary increments it (once per [FallbackOptions.GenerationInterval]
// while it keeps doing so, and once more before it recovers), and an
// instance recovers into the namespace of the newest generation. That
// namespace holds no copy older than the secondary's, so a stale copy is
// never read; sessions fill it from the secondary on first use, and the
// keys this instance touched during the outage are copied ahead of demand.
// The old namespace is never read again and expires by its entries' TTLs.
// Healthy instances read the generation every GenerationInterval and move
// to a newer namespace when they see one.
//
// Limits: an instance that did not see the outage serves a stale copy for
// at most about two GenerationIntervals after another instance's
// secondary-only write (one for the writer's increment, one for the
// reader's poll), and a write in that window by both instances to the same
// session resolves by the secondary's version when the mirror write is
// refused (write-through returns [ErrConflict] and the caller's save retries
// on the secondary's copy). Every outage leaves the primary cold: each
// active session costs one secondary read and one primary write on its next
// use.
//
// Without a Namespace, the keys this instance touched are reconciled into
// the same primary before it serves again (copied from the secondary when
// present there, deleted from the primary when not, so a logout during the
// outage is not undone), and versions decide every copy: an older copy never
// overwrites a newer one. That is sound for a single instance only.
//
// # Mode switches and trust
//
// [Generation.TrustFrom] is set when the primary served alone for a while
// (a storage mode that used Redis without SQL): the secondary may then hold
// copies the primary has since changed or deleted. Secondary copies last
// active before TrustFrom are not read through; a primary entry last active
// before TrustFrom is copied into the secondary on its first read, with its
// activity refreshed, so it is trusted from then on.
type Fallback struct {
	opts FallbackOptions
	log  *slog.Logger
	sec  *member
	cur  atomic.Pointer[member]
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]

	tripNow   atomic.Bool  // the next reported failure opens the breaker
	engaged   atomic.Bool  // calls go to the secondary
	flip      sync.RWMutex // engaged calls hold it shared; recovery exclusively
	trustFrom atomic.Int64 // unix ms; 0: every secondary copy is trusted
	latestGen atomic.Uint64
	// pendingBump: the secondary was written without the primary since the
	// last generation increment.
	pendingBump atomic.Bool
	mirrorDown  atomic.Bool // mirror writes fail: queue them without trying

	epochMu sync.Mutex
	epoch   context.Context // cancelled when the fallback engages
	endEp   context.CancelFunc

	omu       sync.Mutex
	dirty     map[string]struct{} // keys touched while engaged
	dirtyLost bool                // dirty overflowed MaxOutageKeys
	// lostLogged: the overflow was reported (the supervisor's own flag).
	lostLogged bool
	engagedAt  time.Time

	q mirrorQueue

	wake      chan struct{}
	stop      context.CancelFunc
	bg        sync.WaitGroup // supervisor and workers
	warmers   sync.WaitGroup
	closeOnce sync.Once

	n fallbackCounters
}

var (
	_ Store      = (*Fallback)(nil)
	_ GetToucher = (*Fallback)(nil)
	_ UserIndex  = (*Fallback)(nil)
	_ Copier     = (*Fallback)(nil)
	_ Pinger     = (*Fallback)(nil)
)

// FallbackOptions configures a [Fallback]. The zero value works.
type FallbackOptions struct {
	// WriteBehind mirrors writes to the secondary from the background queue
	// instead of within the call: a write costs one primary round trip, and
	// an acknowledged write lives only in the primary and in this process's
	// memory until a worker has copied it (the loss window: see
	// [FallbackStatus.LagP99]). A Fallback that fails over drains the queued
	// state of a key before using the secondary for it, so a primary outage
	// loses nothing; a crash of the process during the window does. Default
	// false: write-through. No environment variable.
	WriteBehind bool

	// QueueSize bounds the mirror queue, in distinct keys. A state that
	// does not fit is dropped and counted ([FallbackStatus.Dropped]): the
	// primary has it, the secondary may miss it. Default 65536.
	QueueSize int

	// MirrorWorkers is the number of goroutines that copy queued states to
	// the secondary. Default 4.
	MirrorWorkers int

	// MirrorTimeout bounds each secondary call made to mirror a write,
	// refill a miss or maintain the generation. Default 2s.
	MirrorTimeout time.Duration

	// FailureThreshold is the number of consecutive outage errors of
	// primary reads that open the breaker. A failed write opens it at once.
	// Default 3.
	FailureThreshold int

	// ProbeInterval is how long the breaker stays open before the primary
	// is probed again, and the period of later probes. Default 500ms.
	ProbeInterval time.Duration

	// PrimaryTimeout bounds each primary call inside the caller's deadline,
	// so that a slow primary leaves the secondary time to answer. Give the
	// primary's client shorter timeouts still (see SERVICES.md's fail-fast
	// settings). Not applied while mirror writes fail (the secondary is no
	// better place to go). Default 500ms.
	PrimaryTimeout time.Duration

	// Namespace, when set, returns the primary store for a generation (for
	// Redis: a redisstore on the same client with the generation in its key
	// prefix). The primary passed to [NewFallback] must be the store of
	// Generation.Number. Default nil: one primary namespace, reconciled key
	// by key after an outage (sound for a single instance only).
	Namespace func(generation uint64) (Store, error)

	// Generation is the secondary's generation record at construction (read
	// it with [LoadGeneration]). Its Number names the primary's namespace
	// when Namespace is set; its TrustFrom applies either way. Default: the
	// zero record (generation 1, every secondary copy trusted).
	Generation Generation

	// GenerationInterval is how often a healthy fallback reads the
	// generation record and an engaged one that wrote increments it.
	// Default 1s. Only used with Namespace.
	GenerationInterval time.Duration

	// MaxOutageKeys bounds how many keys touched during one outage are
	// remembered. With a Namespace, the keys beyond it are simply not
	// warmed ahead of demand. Without one they cannot be reconciled, so the
	// fallback then stays engaged (serving from the secondary) until it is
	// rebuilt, and says so in the log. Default 1<<20.
	MaxOutageKeys int

	// CloseTimeout bounds how long Close waits for the mirror queue to
	// drain. Default 5s.
	CloseTimeout time.Duration

	// OnStateChange is called with true when the fallback engages (calls go
	// to the secondary) and with false when it has recovered, in that
	// order, from the fallback's own goroutine. Wire it to
	// ginsession.Manager.Emit with EventFallbackEngaged and
	// EventFallbackRecovered. Default nil.
	OnStateChange func(engaged bool)

	// OnGeneration is called, from the fallback's goroutine, after the
	// primary moved to another generation's namespace. Default nil.
	OnGeneration func(generation uint64)

	// Logger receives what cannot be returned to a caller (mirror
	// failures, recovery attempts). Default slog.Default().
	Logger *slog.Logger
}

func (o FallbackOptions) withDefaults() FallbackOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.MirrorWorkers <= 0 {
		o.MirrorWorkers = 4
	}
	if o.MirrorTimeout <= 0 {
		o.MirrorTimeout = 2 * time.Second
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 3
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 500 * time.Millisecond
	}
	if o.PrimaryTimeout <= 0 {
		o.PrimaryTimeout = 500 * time.Millisecond
	}
	if o.Generation.Number == 0 {
		o.Generation.Number = 1
	}
	if o.GenerationInterval <= 0 {
		o.GenerationInterval = time.Second
	}
	if o.MaxOutageKeys <= 0 {
		o.MaxOutageKeys = 1 << 20
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// member is one store of the composition with its capabilities, detected
// once.
type member struct {
	s   Store
	c   Copier
	ui  UserIndex
	gt  GetToucher // nil: Get, then Touch
	p   Pinger     // nil: a Get stands in
	gen uint64
}

func newMember(role string, s Store, gen uint64) (*member, error) {
	if s == nil {
		return nil, fmt.Errorf("store: fallback: %s: %w: nil store", role, ErrInvalid)
	}
	c, ok := s.(Copier)
	if !ok {
		return nil, fmt.Errorf("store: fallback: %s: %w: %T does not implement store.Copier", role, ErrInvalid, s)
	}
	ui, ok := s.(UserIndex)
	if !ok {
		return nil, fmt.Errorf("store: fallback: %s: %w: %T does not implement store.UserIndex", role, ErrInvalid, s)
	}
	m := &member{s: s, c: c, ui: ui, gen: gen}
	m.gt, _ = s.(GetToucher)
	m.p, _ = s.(Pinger)
	return m, nil
}

func (m *member) getTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*Entry, error) {
	if m.gt != nil {
		return m.gt.GetTouch(ctx, key, now, idle, touchBefore)
	}
	e, err := m.s.Get(ctx, key)
	if err != nil || !e.LastActivity.Before(touchBefore) {
		return e, err
	}
	la, id := Millis(now), Millis(now.Add(idle))
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
	_, err := m.s.Get(ctx, NewToken().Key())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// NewFallback returns a Fallback serving from primary and mirroring into
// secondary. Both must implement [Copier] and [UserIndex]; [GetToucher] and
// [Pinger] are used when present. The caller keeps ownership of both
// stores; Close stops the fallback's goroutines and drains its queue.
func NewFallback(primary, secondary Store, opts FallbackOptions) (*Fallback, error) {
	opts = opts.withDefaults()
	p, err := newMember("primary", primary, opts.Generation.Number)
	if err != nil {
		return nil, err
	}
	s, err := newMember("secondary", secondary, 0)
	if err != nil {
		return nil, err
	}
	f := &Fallback{
		opts:  opts,
		log:   opts.Logger,
		sec:   s,
		dirty: map[string]struct{}{},
		wake:  make(chan struct{}, 1),
	}
	f.cur.Store(p)
	f.latestGen.Store(opts.Generation.Number)
	f.trustFrom.Store(msOf(opts.Generation.TrustFrom))
	f.epoch, f.endEp = context.WithCancel(context.Background())
	f.q.init(opts.QueueSize)
	threshold := uint32(opts.FailureThreshold)
	f.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "sessions-primary",
		MaxRequests: 1,
		Timeout:     opts.ProbeInterval,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= threshold || f.tripNow.Swap(false)
		},
		IsExcluded: func(err error) bool { return err == errExcluded },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				f.engage()
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.bg.Add(1 + opts.MirrorWorkers)
	go f.supervise(ctx)
	for range opts.MirrorWorkers {
		go f.mirrorWorker(ctx)
	}
	return f, nil
}

// Close stops the probes and the generation upkeep, copies what the mirror
// queue still holds into the secondary (for at most CloseTimeout), and
// waits for the fallback's goroutines. It does not close the two stores.
// Later calls return nil.
func (f *Fallback) Close() error {
	var err error
	f.closeOnce.Do(func() {
		f.stop()
		f.bg.Wait()
		f.warmers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.CloseTimeout)
		defer cancel()
		if n := f.flushAll(ctx); n > 0 {
			err = fmt.Errorf("store: fallback: close: %w: %d mirror writes not applied", ErrUnavailable, n)
		}
	})
	return err
}

// Sentinels the breaker sees: errOutage fails, errExcluded (the caller's
// own cancellation) counts neither way.
var (
	errOutage   = errors.New("store: fallback: primary outage")
	errExcluded = errors.New("store: fallback: caller cancelled")
	errRetry    = errors.New("store: fallback: state changed, retry")
)

// outage reports whether err means the backend could not answer, as
// opposed to an answer (not found, conflict, too large, invalid).
func outage(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// fallbackCounters are the fallback's lifetime counters.
type fallbackCounters struct {
	failovers, engagements, recoveries, refills, divergences atomic.Uint64
	bumps, switches, mirrorErrors                            atomic.Uint64
}

// FallbackStatus is a snapshot of a Fallback for health checks and metrics.
type FallbackStatus struct {
	// Engaged: calls go to the secondary.
	Engaged bool `json:"engaged"`
	// EngagedSince is when the current outage began (zero when healthy).
	EngagedSince time.Time `json:"engaged_since,omitzero"`
	// Breaker is the circuit breaker's state: closed, open or half-open.
	Breaker string `json:"breaker"`
	// Generation names the primary namespace in use.
	Generation uint64 `json:"generation"`
	// OutageKeys is how many keys the current outage touched.
	OutageKeys int `json:"outage_keys"`
	// QueueDepth is the number of keys whose state waits to be mirrored;
	// QueuePeak its highest value since the fallback was built.
	QueueDepth int `json:"queue_depth"`
	QueuePeak  int `json:"queue_peak"`
	// QueueLag is the age of the oldest state waiting in the queue.
	QueueLag time.Duration `json:"queue_lag_ns"`
	// MirrorDown: the last mirror write failed; writes are queued without
	// trying the secondary until the queue has drained.
	MirrorDown bool `json:"mirror_down"`
	// Applied counts queued states copied into the secondary; Dropped
	// those the full queue refused.
	Applied uint64 `json:"applied"`
	Dropped uint64 `json:"dropped"`
	// LagP50, LagP99 and LagMax describe, over the last 4096 queued states
	// applied, the time from queueing to the secondary's acknowledgement:
	// with WriteBehind, the window in which a crash of this process loses
	// an acknowledged write.
	LagP50 time.Duration `json:"lag_p50_ns"`
	LagP99 time.Duration `json:"lag_p99_ns"`
	LagMax time.Duration `json:"lag_max_ns"`
	// Failovers counts calls the primary failed and the secondary served;
	// Engagements and Recoveries count outages begun and ended.
	Failovers   uint64 `json:"failovers"`
	Engagements uint64 `json:"engagements"`
	Recoveries  uint64 `json:"recoveries"`
	// Refills counts primary misses filled from the secondary.
	Refills uint64 `json:"refills"`
	// Divergences counts writes refused by the mirror because the
	// secondary held a copy the primary never had.
	Divergences uint64 `json:"divergences"`
	// GenerationBumps counts increments made by this fallback;
	// GenerationSwitches moves to a newer namespace.
	GenerationBumps    uint64 `json:"generation_bumps"`
	GenerationSwitches uint64 `json:"generation_switches"`
	// MirrorErrors counts mirror writes the secondary refused for good
	// (too large, invalid): the primary has them, the secondary does not.
	MirrorErrors uint64 `json:"mirror_errors"`
}

// Status returns a snapshot of the fallback's state and counters.
func (f *Fallback) Status() FallbackStatus {
	st := FallbackStatus{
		Engaged:            f.engaged.Load(),
		Breaker:            f.cb.State().String(),
		Generation:         f.cur.Load().gen,
		MirrorDown:         f.mirrorDown.Load(),
		Failovers:          f.n.failovers.Load(),
		Engagements:        f.n.engagements.Load(),
		Recoveries:         f.n.recoveries.Load(),
		Refills:            f.n.refills.Load(),
		Divergences:        f.n.divergences.Load(),
		GenerationBumps:    f.n.bumps.Load(),
		GenerationSwitches: f.n.switches.Load(),
		MirrorErrors:       f.n.mirrorErrors.Load(),
	}
	f.omu.Lock()
	if st.Engaged {
		st.EngagedSince = f.engagedAt
	}
	st.OutageKeys = len(f.dirty)
	f.omu.Unlock()
	f.q.stats(&st)
	return st
}

// Engaged reports whether calls currently go to the secondary.
func (f *Fallback) Engaged() bool { return f.engaged.Load() }

// Primary returns the primary store in use (the current generation's
// namespace).
func (f *Fallback) Primary() Store { return f.cur.Load().s }

// Secondary returns the secondary store.
func (f *Fallback) Secondary() Store { return f.sec.s }

// engage sends calls to the secondary and cancels primary calls in flight.
// It may run under the breaker's lock: it must not call the breaker.
func (f *Fallback) engage() {
	if !f.engaged.CompareAndSwap(false, true) {
		return
	}
	f.omu.Lock()
	f.engagedAt = time.Now()
	f.omu.Unlock()
	f.epochMu.Lock()
	f.endEp()
	f.epochMu.Unlock()
	f.n.engagements.Add(1)
	f.signal()
}

func (f *Fallback) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fallback) currentEpoch() context.Context {
	f.epochMu.Lock()
	defer f.epochMu.Unlock()
	return f.epoch
}

// primary runs fn on the primary under the breaker, bounded by
// PrimaryTimeout and cancelled if the fallback engages meanwhile. down
// reports an outage: the caller then runs the operation on the secondary. A
// write that fails that way opens the breaker at once.
func (f *Fallback) primary(ctx context.Context, write bool, fn func(context.Context) error) (down bool, err error) {
	done, allowErr := f.cb.Allow()
	cctx, cancel := context.WithTimeout(ctx, f.opts.PrimaryTimeout)
	if f.mirrorDown.Load() {
		// The secondary is failing: there is nowhere to fail over to, so a
		// slow primary gets the caller's whole deadline.
		cancel()
		cctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(f.currentEpoch(), cancel)
	err = fn(cctx)
	stop()
	cancel()
	down = err != nil && ctx.Err() == nil && outage(err)
	if allowErr == nil {
		switch {
		case down:
			if write {
				f.tripNow.Store(true)
			}
			done(errOutage)
		case err != nil && ctx.Err() != nil:
			done(errExcluded)
		default:
			done(nil)
		}
	}
	if down {
		f.n.failovers.Add(1)
		if write {
			f.engage()
		}
	}
	return down, err
}

// onSecondary runs fn on the secondary for a call the primary cannot
// serve. While engaged it holds the flip lock shared (so recovery waits for
// it) and remembers key; a write outside an engagement (recovery happened
// meanwhile) returns errRetry so the caller goes back to the primary. The
// key's queued mirror state is applied first, so the secondary is current.
func (f *Fallback) onSecondary(ctx context.Context, key string, write bool, fn func(context.Context) error) error {
	if f.engaged.Load() {
		f.flip.RLock()
		defer f.flip.RUnlock()
		if !f.engaged.Load() {
			return errRetry
		}
		if key != "" {
			f.remember(key)
		}
	} else if write {
		return errRetry
	}
	if key != "" {
		_ = f.flush(ctx, key)
	}
	if write {
		f.pendingBump.Store(true)
	}
	return fn(ctx)
}

// remember records a key touched during the outage.
func (f *Fallback) remember(keys ...string) {
	f.omu.Lock()
	defer f.omu.Unlock()
	for _, k := range keys {
		if _, ok := f.dirty[k]; ok {
			continue
		}
		if len(f.dirty) >= f.opts.MaxOutageKeys {
			f.dirtyLost = true
			return
		}
		f.dirty[k] = struct{}{}
	}
}

func (f *Fallback) check(op string, ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: fallback: %s: %w", op, err)
	}
	if key != "" && !ValidKey(key) {
		return fmt.Errorf("store: fallback: %s: %w: malformed key", op, ErrInvalid)
	}
	return nil
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// trusted reports whether a secondary copy may be served: see
// [Generation.TrustFrom].
func (f *Fallback) trusted(e *Entry) bool {
	tf := f.trustFrom.Load()
	return tf == 0 || e.LastActivity.UnixMilli() >= tf
}

func (f *Fallback) mirrorCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.opts.MirrorTimeout)
}

// getSecondary reads key from the secondary as a source of truth: queued
// mirror state first, untrusted copies hidden.
func (f *Fallback) getSecondary(ctx context.Context, key string) (*Entry, error) {
	if op := f.q.get(key); op != nil {
		if err := f.flush(ctx, key); err != nil {
			// The secondary is behind and cannot catch up now: the queued
			// state is the truth.
			if op.kind == opDelete {
				return nil, fmt.Errorf("store: fallback: get: %w", ErrNotFound)
			}
			if op.kind == opPut && !op.e.Expired(time.Now()) {
				return op.e.Clone(), nil
			}
		}
	}
	e, err := f.sec.s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if !f.trusted(e) {
		return nil, fmt.Errorf("store: fallback: get: %w: secondary copy predates the trust cut-off", ErrNotFound)
	}
	return e, nil
}

// refill fills a primary miss from the secondary. After copying, it checks
// the secondary again, so a delete that raced the copy is not undone (a
// delete removes the secondary's copy, or queues its removal, before the
// primary's).
//
// A secondary that fails is not a miss: the session may well be there, and
// a caller told "not found" would start a new one. The failure is returned,
// unless the secondary is already known to be down (mirror writes fail),
// when the primary's miss stands: a stale cookie during an SQL outage
// starts a fresh session instead of failing every request.
func (f *Fallback) refill(ctx context.Context, p *member, key string, miss error) (*Entry, error) {
	if f.mirrorDown.Load() && f.q.get(key) == nil {
		return nil, miss
	}
	sctx, cancel := context.WithTimeout(ctx, f.opts.MirrorTimeout)
	defer cancel()
	s, err := f.getSecondary(sctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, miss
	case err != nil:
		return nil, fmt.Errorf("store: fallback: primary missed and the secondary failed: %w", err)
	}
	var wrote bool
	if _, cerr := f.primary(ctx, false, func(c context.Context) (err error) {
		wrote, err = p.c.CopyIn(c, s)
		return err
	}); cerr != nil {
		return s, nil // served from the secondary; the next call refills
	}
	if !wrote {
		// The primary holds this version or a newer one (a concurrent
		// refill or save): serve that.
		if e, err := p.s.Get(sctx, key); err == nil {
			return e, nil
		}
		return s, nil
	}
	f.n.refills.Add(1)
	if op := f.q.get(key); (op != nil && op.kind == opDelete) || f.secondaryGone(sctx, key) {
		_ = p.s.Delete(sctx, key)
		return nil, miss
	}
	return s, nil
}

// secondaryGone reports whether the secondary positively has no live entry
// under key.
func (f *Fallback) secondaryGone(ctx context.Context, key string) bool {
	_, err := f.sec.s.Get(ctx, key)
	return errors.Is(err, ErrNotFound)
}

// backfill copies a primary entry the secondary may lack or hold stale
// (last active before the trust cut-off) into the secondary, refreshing its
// activity first so the copy is trusted.
func (f *Fallback) backfill(ctx context.Context, p *member, e *Entry) *Entry {
	now := Millis(time.Now())
	if err := p.s.Touch(ctx, e.Key, now, e.IdleDeadline); err != nil {
		return e
	}
	e.LastActivity = now
	f.mirrorEntry(ctx, e, true)
	return e
}

// Get returns the live entry under key: from the primary when healthy
// (filled from the secondary on a miss), from the secondary when not.
func (f *Fallback) Get(ctx context.Context, key string) (*Entry, error) {
	if err := f.check("get", ctx, key); err != nil {
		return nil, err
	}
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			var e *Entry
			down, err := f.primary(ctx, false, func(c context.Context) (err error) {
				e, err = p.s.Get(c, key)
				return err
			})
			if !down {
				switch {
				case err == nil:
					if !f.trusted(e) {
						e = f.backfill(ctx, p, e)
					}
					return e, nil
				case errors.Is(err, ErrNotFound):
					return f.refill(ctx, p, key, err)
				}
				return nil, err
			}
		}
		var e *Entry
		err := f.onSecondary(ctx, key, false, func(c context.Context) (err error) {
			e, err = f.getSecondary(c, key)
			return err
		})
		if err != errRetry {
			return e, err
		}
	}
	return nil, fmt.Errorf("store: fallback: get: %w: primary state kept changing", ErrUnavailable)
}

// GetTouch is Get and a conditional Touch in one call; see [GetToucher].
// Healthy, it is one primary operation (plus a mirror of the touch when one
// happened); engaged, it runs on the secondary.
func (f *Fallback) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*Entry, error) {
	if err := f.check("get", ctx, key); err != nil {
		return nil, err
	}
	tb := touchBefore
	if tf := f.trustFrom.Load(); tf != 0 && tb.UnixMilli() < tf {
		tb = time.UnixMilli(tf) // backfill entries from before the cut-off
	}
	touched := func(e *Entry) bool { return e.LastActivity.Equal(Millis(now)) }
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			var e *Entry
			down, err := f.primary(ctx, false, func(c context.Context) (err error) {
				e, err = p.getTouch(c, key, now, idle, tb)
				return err
			})
			if !down {
				switch {
				case err == nil:
					if touched(e) {
						f.mirrorEntry(ctx, e, f.trustFrom.Load() != 0)
					}
					return e, nil
				case errors.Is(err, ErrNotFound):
					s, err := f.refill(ctx, p, key, err)
					if err != nil {
						return nil, err
					}
					// Filled: read it again through the primary, touching it
					// when due.
					down, err = f.primary(ctx, false, func(c context.Context) (err error) {
						e, err = p.getTouch(c, key, now, idle, tb)
						return err
					})
					if !down {
						switch {
						case err == nil && touched(e):
							f.mirrorEntry(ctx, e, false)
						case errors.Is(err, ErrNotFound):
							// The primary did not take the copy: serve the
							// secondary's (the next call refills).
							return s, nil
						}
						return e, err
					}
				default:
					return nil, err
				}
			}
		}
		var e *Entry
		// Engaged, the secondary serves and is touched; below the breaker's
		// threshold a failed read is only read from it.
		touch := f.engaged.Load()
		err := f.onSecondary(ctx, key, touch, func(c context.Context) (err error) {
			if !touch || f.trustFrom.Load() != 0 {
				if e, err = f.getSecondary(c, key); err != nil || !touch {
					return err
				}
			}
			e, err = f.sec.getTouch(c, key, now, idle, touchBefore)
			return err
		})
		if err != errRetry {
			return e, err
		}
	}
	return nil, fmt.Errorf("store: fallback: get: %w: primary state kept changing", ErrUnavailable)
}

// Put stores e if the stored version equals prev (see [Store.Put]): a
// compare-and-set on the primary, then the mirror write. A primary miss on
// an update is filled from the secondary and the Put retried. When the
// secondary refuses the mirror write because it holds a copy the primary
// never had (written by an instance that could not reach the primary), the
// secondary's copy is adopted by both stores, at a version above both, and
// Put reports ErrConflict so the caller's save retries on it.
func (f *Fallback) Put(ctx context.Context, e *Entry, prev uint64) error {
	if err := f.check("put", ctx, ""); err != nil {
		return err
	}
	if err := e.Validate(prev); err != nil {
		return fmt.Errorf("store: fallback: put: %w", err)
	}
	refilled := false
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			down, err := f.primary(ctx, true, func(c context.Context) error { return p.s.Put(c, e, prev) })
			if !down {
				switch {
				case err == nil:
					return f.mirrorPut(ctx, p, e)
				case errors.Is(err, ErrNotFound) && prev > 0 && !refilled:
					refilled = true
					s, rerr := f.refill(ctx, p, e.Key, err)
					if rerr != nil {
						return rerr
					}
					if s.Version != prev {
						return fmt.Errorf("store: fallback: put: %w: stored version %d, expected %d", ErrConflict, s.Version, prev)
					}
					continue
				}
				return err
			}
		}
		err := f.onSecondary(ctx, e.Key, true, func(c context.Context) error { return f.sec.s.Put(c, e, prev) })
		if err != errRetry {
			return err
		}
	}
	return fmt.Errorf("store: fallback: put: %w: primary state kept changing", ErrUnavailable)
}

// mirrorPut copies a written entry into the secondary (or queues it), and
// detects a secondary that knows a newer history.
func (f *Fallback) mirrorPut(ctx context.Context, p *member, e *Entry) error {
	if f.opts.WriteBehind || f.mirrorDown.Load() {
		f.enqueue(e.Key, &mirrorOp{kind: opPut, e: e.Clone()})
		return nil
	}
	mctx, cancel := f.mirrorCtx(ctx)
	defer cancel()
	wrote, err := f.sec.c.CopyIn(mctx, e)
	switch {
	case err != nil && outage(err):
		f.mirrorDown.Store(true)
		f.enqueue(e.Key, &mirrorOp{kind: opPut, e: e.Clone()})
		return nil
	case err != nil:
		f.n.mirrorErrors.Add(1)
		f.log.Warn("store: fallback: mirror refused a write", "session", Handle(e.Key), "err", err)
		return nil
	}
	f.q.supersede(e.Key, e.Version)
	if wrote || e.Expired(time.Now()) {
		return nil
	}
	return f.reconcileDivergence(mctx, p, e)
}

// reconcileDivergence handles a mirror write the secondary refused: fine
// when the secondary's copy came through the primary (a concurrent save
// mirrored first), a divergence when the secondary holds a version the
// primary never had.
func (f *Fallback) reconcileDivergence(ctx context.Context, p *member, e *Entry) error {
	s, err := f.sec.s.Get(ctx, e.Key)
	if err != nil {
		return nil
	}
	cur, err := p.s.Get(ctx, e.Key)
	if err != nil {
		return nil
	}
	if s.Version < cur.Version || (s.Version == cur.Version && bytes.Equal(s.Payload, cur.Payload)) {
		return nil
	}
	f.n.divergences.Add(1)
	adopt := s.Clone()
	adopt.Version = max(s.Version, cur.Version) + 1
	if _, err := f.sec.c.CopyIn(ctx, adopt); err != nil {
		return fmt.Errorf("store: fallback: put: %w: the secondary holds a newer copy and could not be adopted: %w", ErrConflict, err)
	}
	_, _ = p.c.CopyIn(ctx, adopt)
	return fmt.Errorf("store: fallback: put: %w: the secondary held version %d written without the primary; adopted as version %d", ErrConflict, s.Version, adopt.Version)
}

// mirrorEntry copies e into the secondary after a touch or a backfill:
// Touch when the secondary has this version, CopyIn when it lacks it (or,
// with copyFirst, may hold an older one).
func (f *Fallback) mirrorEntry(ctx context.Context, e *Entry, copyFirst bool) {
	op := &mirrorOp{kind: opPut, e: e.Clone(), touched: true, la: e.LastActivity, idle: e.IdleDeadline}
	if f.opts.WriteBehind || f.mirrorDown.Load() {
		f.enqueue(e.Key, op)
		return
	}
	mctx, cancel := f.mirrorCtx(ctx)
	defer cancel()
	var err error
	if copyFirst {
		err = f.apply(mctx, e.Key, op)
	} else if err = f.sec.s.Touch(mctx, e.Key, e.LastActivity, e.IdleDeadline); errors.Is(err, ErrNotFound) {
		_, err = f.sec.c.CopyIn(mctx, e)
	}
	if err != nil && outage(err) {
		f.mirrorDown.Store(true)
		f.enqueue(e.Key, op)
	}
}

// Delete removes the entry from both stores: the secondary's copy first
// (or its removal queued), then the primary's, so a refill racing the
// delete cannot bring it back.
func (f *Fallback) Delete(ctx context.Context, key string) error {
	if err := f.check("delete", ctx, key); err != nil {
		return err
	}
	for range 4 {
		if !f.engaged.Load() {
			f.mirrorDelete(ctx, key)
			p := f.cur.Load()
			down, err := f.primary(ctx, true, func(c context.Context) error { return p.s.Delete(c, key) })
			if !down {
				return err
			}
		}
		err := f.onSecondary(ctx, key, true, func(c context.Context) error { return f.sec.s.Delete(c, key) })
		if err != errRetry {
			return err
		}
	}
	return fmt.Errorf("store: fallback: delete: %w: primary state kept changing", ErrUnavailable)
}

func (f *Fallback) mirrorDelete(ctx context.Context, key string) {
	op := &mirrorOp{kind: opDelete}
	if f.opts.WriteBehind || f.mirrorDown.Load() {
		f.enqueue(key, op)
		return
	}
	mctx, cancel := f.mirrorCtx(ctx)
	defer cancel()
	if err := f.sec.s.Delete(mctx, key); err != nil {
		if outage(err) {
			f.mirrorDown.Store(true)
		}
		f.enqueue(key, op)
		return
	}
	f.q.supersede(key, 0)
}

// Touch refreshes the entry in both stores; see [Store.Touch].
func (f *Fallback) Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) error {
	if err := f.check("touch", ctx, key); err != nil {
		return err
	}
	refilled := false
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			down, err := f.primary(ctx, true, func(c context.Context) error { return p.s.Touch(c, key, lastActivity, idleDeadline) })
			if !down {
				switch {
				case err == nil:
					f.mirrorTouch(ctx, p, key, lastActivity, idleDeadline)
					return nil
				case errors.Is(err, ErrNotFound) && !refilled:
					refilled = true
					if _, rerr := f.refill(ctx, p, key, err); rerr != nil {
						return rerr
					}
					continue
				}
				return err
			}
		}
		err := f.onSecondary(ctx, key, true, func(c context.Context) error {
			return f.sec.s.Touch(c, key, lastActivity, idleDeadline)
		})
		if err != errRetry {
			return err
		}
	}
	return fmt.Errorf("store: fallback: touch: %w: primary state kept changing", ErrUnavailable)
}

func (f *Fallback) mirrorTouch(ctx context.Context, p *member, key string, la, idle time.Time) {
	op := &mirrorOp{kind: opTouch, la: la, idle: idle}
	if f.opts.WriteBehind || f.mirrorDown.Load() {
		f.enqueue(key, op)
		return
	}
	mctx, cancel := f.mirrorCtx(ctx)
	defer cancel()
	err := f.sec.s.Touch(mctx, key, la, idle)
	if errors.Is(err, ErrNotFound) {
		// The secondary lacks the entry: copy it whole.
		var e *Entry
		if e, err = p.s.Get(mctx, key); err == nil {
			f.mirrorEntry(ctx, e, true)
			return
		}
	}
	if err != nil && outage(err) {
		f.mirrorDown.Store(true)
		f.enqueue(key, op)
	}
}

// CopyIn stores e unless the primary holds it at a version >= e.Version
// (see [Copier]), and mirrors what it wrote.
func (f *Fallback) CopyIn(ctx context.Context, e *Entry) (bool, error) {
	if err := f.check("copy in", ctx, ""); err != nil {
		return false, err
	}
	if e == nil {
		return false, fmt.Errorf("store: fallback: copy in: %w: nil entry", ErrInvalid)
	}
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			var wrote bool
			down, err := f.primary(ctx, true, func(c context.Context) (err error) {
				wrote, err = p.c.CopyIn(c, e)
				return err
			})
			if !down {
				if err == nil && wrote {
					f.mirrorEntry(ctx, e, true)
				}
				return wrote, err
			}
		}
		var wrote bool
		err := f.onSecondary(ctx, e.Key, true, func(c context.Context) (err error) {
			wrote, err = f.sec.c.CopyIn(c, e)
			return err
		})
		if err != errRetry {
			return wrote, err
		}
	}
	return false, fmt.Errorf("store: fallback: copy in: %w: primary state kept changing", ErrUnavailable)
}

// ListUser returns the user's live entries; see [UserIndex]. Healthy, it
// merges both stores' lists (the primary may be cold after an outage, the
// secondary behind by the queue), the higher version winning; engaged, it
// lists the secondary.
func (f *Fallback) ListUser(ctx context.Context, userID string) ([]*Entry, error) {
	if err := f.check("list user", ctx, ""); err != nil {
		return nil, err
	}
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			var pl []*Entry
			down, err := f.primary(ctx, false, func(c context.Context) (err error) {
				pl, err = p.ui.ListUser(c, userID)
				return err
			})
			if !down {
				if err != nil {
					return nil, err
				}
				mctx, cancel := f.mirrorCtx(ctx)
				sl, serr := f.sec.ui.ListUser(mctx, userID)
				cancel()
				if serr != nil {
					return pl, nil
				}
				return f.mergeLists(pl, sl), nil
			}
		}
		var out []*Entry
		err := f.onSecondary(ctx, "", false, func(c context.Context) error {
			f.flushAll(c)
			sl, err := f.sec.ui.ListUser(c, userID)
			out = slices.DeleteFunc(sl, func(e *Entry) bool { return !f.trusted(e) })
			return err
		})
		if err != errRetry {
			return out, err
		}
	}
	return nil, fmt.Errorf("store: fallback: list user: %w: primary state kept changing", ErrUnavailable)
}

func (f *Fallback) mergeLists(pl, sl []*Entry) []*Entry {
	byKey := make(map[string]*Entry, len(pl)+len(sl))
	for _, e := range pl {
		byKey[e.Key] = e
	}
	for _, e := range sl {
		// A queued state is newer than the secondary's copy.
		if op := f.q.get(e.Key); op != nil {
			if op.kind == opDelete || (op.kind == opPut && op.e.UserID != e.UserID) {
				continue
			}
			if op.kind == opPut && op.e.Version > e.Version {
				e = op.e.Clone()
			}
		}
		if have, ok := byKey[e.Key]; ok {
			if e.Version > have.Version {
				byKey[e.Key] = e
			}
			continue
		}
		if f.trusted(e) {
			byKey[e.Key] = e
		}
	}
	out := make([]*Entry, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Entry) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// DeleteUser deletes the user's entries except keep from both stores and
// returns how many live entries it deleted (the larger of the two stores'
// counts). The secondary goes first, so refills cannot bring a deleted
// entry back. When the secondary cannot be reached, the primary's entries
// are queued for deletion there and the error is returned (wrapping
// ErrUnavailable): entries only the secondary held may survive.
func (f *Fallback) DeleteUser(ctx context.Context, userID string, keep string) (int, error) {
	if err := f.check("delete user", ctx, ""); err != nil {
		return 0, err
	}
	if keep != "" && !ValidKey(keep) {
		return 0, fmt.Errorf("store: fallback: delete user: %w: malformed keep key", ErrInvalid)
	}
	done := 0 // entries the secondary already deleted
	for range 4 {
		if !f.engaged.Load() {
			p := f.cur.Load()
			var pl []*Entry
			down, err := f.primary(ctx, false, func(c context.Context) (err error) {
				pl, err = p.ui.ListUser(c, userID)
				return err
			})
			if !down && err != nil {
				return 0, err
			}
			if !down {
				if f.opts.WriteBehind {
					// Bring the mirror up to date first, so its count below
					// does not include entries whose newer state (another
					// user, or anonymous) is still queued.
					f.flushAll(ctx)
				}
				// Queue the deletions first: a state still queued for one of
				// these entries becomes a deletion (it cannot land after the
				// secondary's DeleteUser), and a racing refill sees it.
				for _, e := range pl {
					if e.Key != keep {
						f.enqueue(e.Key, &mirrorOp{kind: opDelete})
					}
				}
				mctx, cancel := f.mirrorCtx(ctx)
				n2, serr := f.sec.ui.DeleteUser(mctx, userID, keep)
				cancel()
				done = max(done, n2)
				var n1 int
				down, err = f.primary(ctx, true, func(c context.Context) (err error) {
					n1, err = p.ui.DeleteUser(c, userID, keep)
					return err
				})
				if !down {
					switch {
					case err != nil:
						return n1, err
					case serr != nil:
						return max(n1, n2), fmt.Errorf("store: fallback: delete user: secondary: %w", serr)
					}
					if !f.opts.WriteBehind {
						for _, e := range pl {
							if e.Key != keep {
								_ = f.flush(ctx, e.Key)
							}
						}
					}
					return max(n1, n2), nil
				}
			}
		}
		var n int
		err := f.onSecondary(ctx, "", true, func(c context.Context) error {
			f.flushAll(c)
			sl, err := f.sec.ui.ListUser(c, userID)
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(sl))
			for _, e := range sl {
				keys = append(keys, e.Key)
			}
			f.remember(keys...)
			n, err = f.sec.ui.DeleteUser(c, userID, keep)
			return err
		})
		if err != errRetry {
			return max(n, done), err
		}
	}
	return 0, fmt.Errorf("store: fallback: delete user: %w: primary state kept changing", ErrUnavailable)
}

// Ping reports nil when the fallback can serve: the primary answers, or
// the secondary does while the primary does not.
func (f *Fallback) Ping(ctx context.Context) error {
	if err := f.check("ping", ctx, ""); err != nil {
		return err
	}
	if !f.engaged.Load() {
		err := f.cur.Load().ping(ctx)
		if err == nil || ctx.Err() != nil || !outage(err) {
			return err
		}
	}
	return f.sec.ping(ctx)
}

// supervise runs the fallback's upkeep: engagement notices, probes and
// recovery, and the generation record.
func (f *Fallback) supervise(ctx context.Context) {
	defer f.bg.Done()
	probe := time.NewTicker(f.opts.ProbeInterval)
	defer probe.Stop()
	var genC <-chan time.Time
	if f.opts.Namespace != nil {
		t := time.NewTicker(f.opts.GenerationInterval)
		defer t.Stop()
		genC = t.C
	}
	notified := false
	var lastBump time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-probe.C:
		case <-genC:
			if !f.engaged.Load() {
				f.pollGeneration(ctx)
			}
		}
		if !f.engaged.Load() {
			continue
		}
		if !notified {
			notified = true
			lastBump = time.Time{}
			f.log.Warn("store: fallback: primary unavailable, serving from the secondary")
			f.notify(true)
		}
		if f.opts.Namespace != nil && f.pendingBump.Load() && time.Since(lastBump) >= f.opts.GenerationInterval {
			if f.bump(ctx) == nil {
				lastBump = time.Now()
			}
		}
		if f.tryRecover(ctx) {
			notified = false
			f.log.Info("store: fallback: primary recovered", "generation", f.cur.Load().gen)
			f.notify(false)
		}
	}
}

func (f *Fallback) notify(engaged bool) {
	if f.opts.OnStateChange != nil {
		f.opts.OnStateChange(engaged)
	}
}

// bump increments the generation record above every generation this
// fallback knows.
func (f *Fallback) bump(ctx context.Context) error {
	f.pendingBump.Store(false)
	c, cancel := f.mirrorCtx(ctx)
	defer cancel()
	known := max(f.latestGen.Load(), f.cur.Load().gen)
	g, err := UpdateGeneration(c, f.sec.s, func(g Generation) Generation {
		g.Number = max(g.Number, known) + 1
		return g
	})
	if err != nil {
		f.pendingBump.Store(true)
		f.log.Debug("store: fallback: generation increment failed", "err", err)
		return err
	}
	f.latestGen.Store(g.Number)
	f.trustFrom.Store(msOf(g.TrustFrom))
	f.n.bumps.Add(1)
	return nil
}

// pollGeneration moves a healthy fallback to a newer generation's
// namespace when another instance made one.
func (f *Fallback) pollGeneration(ctx context.Context) {
	c, cancel := f.mirrorCtx(ctx)
	defer cancel()
	g, err := LoadGeneration(c, f.sec.s)
	if err != nil {
		return
	}
	f.trustFrom.Store(msOf(g.TrustFrom))
	if g.Number <= f.cur.Load().gen {
		return
	}
	m, err := f.namespace(g.Number)
	if err != nil {
		f.log.Error("store: fallback: namespace", "generation", g.Number, "err", err)
		return
	}
	f.latestGen.Store(max(f.latestGen.Load(), g.Number))
	f.cur.Store(m)
	f.n.switches.Add(1)
	if f.opts.OnGeneration != nil {
		f.opts.OnGeneration(g.Number)
	}
}

func (f *Fallback) namespace(gen uint64) (*member, error) {
	s, err := f.opts.Namespace(gen)
	if err != nil {
		return nil, err
	}
	return newMember("primary", s, gen)
}

// tryRecover runs a recovery through the breaker once it allows a probe.
func (f *Fallback) tryRecover(ctx context.Context) bool {
	if f.cb.State() == gobreaker.StateOpen {
		return false
	}
	done, err := f.cb.Allow()
	if err != nil {
		return false
	}
	moved, err := f.recover(ctx)
	if err != nil {
		f.log.Debug("store: fallback: recovery attempt failed", "err", err)
		done(errOutage)
		return false
	}
	done(nil)
	if moved && f.opts.OnGeneration != nil {
		f.opts.OnGeneration(f.cur.Load().gen)
	}
	return true
}

// recover checks the primary and makes it safe to serve before calls go
// back to it: with a Namespace, by moving to a generation newer than every
// secondary-only write; without, by reconciling every key the outage
// touched. Calls on the secondary finish first (the flip lock). moved
// reports a move to another generation's namespace.
func (f *Fallback) recover(ctx context.Context) (moved bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*f.opts.MirrorTimeout)
	defer cancel()
	target := f.cur.Load()
	if f.opts.Namespace != nil {
		c, cc := f.mirrorCtx(ctx)
		g, err := LoadGeneration(c, f.sec.s)
		cc()
		switch {
		case err == nil:
			f.trustFrom.Store(msOf(g.TrustFrom))
			f.latestGen.Store(max(f.latestGen.Load(), g.Number))
		case f.pendingBump.Load():
			return false, fmt.Errorf("generation record: %w", err)
		}
		if gen := f.latestGen.Load(); gen != target.gen {
			m, err := f.namespace(gen)
			if err != nil {
				return false, err
			}
			target = m
		}
	}
	pctx, pc := context.WithTimeout(ctx, f.opts.PrimaryTimeout)
	err = target.ping(pctx)
	pc()
	if err != nil {
		return false, err
	}
	if f.opts.Namespace == nil {
		// Reconcile in rounds while calls still go to the secondary, so
		// the final round under the lock is short.
		for range 5 {
			if f.dirtyCount() < 64 {
				break
			}
			if err := f.reconcile(ctx, target); err != nil {
				return false, err
			}
		}
	}
	f.flip.Lock()
	defer f.flip.Unlock()
	var warm []string
	if f.opts.Namespace != nil {
		if f.pendingBump.Load() {
			if err := f.bump(ctx); err != nil {
				return false, err
			}
		}
		if gen := f.latestGen.Load(); gen != target.gen {
			m, err := f.namespace(gen)
			if err != nil {
				return false, err
			}
			target = m
		}
		f.omu.Lock()
		warm = make([]string, 0, len(f.dirty))
		for k := range f.dirty {
			warm = append(warm, k)
		}
		f.dirty, f.dirtyLost = map[string]struct{}{}, false
		f.omu.Unlock()
	} else {
		f.omu.Lock()
		lost := f.dirtyLost
		f.omu.Unlock()
		if lost {
			if !f.lostLogged {
				f.lostLogged = true
				f.log.Error("store: fallback: more keys changed during the outage than MaxOutageKeys: staying on the secondary (the primary cannot be reconciled; rebuild the fallback, or use a Namespace)")
			}
			return false, errors.New("outage keys overflowed")
		}
		if err := f.reconcile(ctx, target); err != nil {
			return false, err
		}
	}
	moved = target.gen != f.cur.Load().gen
	f.cur.Store(target)
	f.epochMu.Lock()
	f.epoch, f.endEp = context.WithCancel(context.Background())
	f.epochMu.Unlock()
	f.engaged.Store(false)
	f.n.recoveries.Add(1)
	if moved {
		f.n.switches.Add(1)
	}
	if len(warm) > 0 {
		f.warmers.Add(1)
		go f.warm(target, warm)
	}
	return moved, nil
}

func (f *Fallback) dirtyCount() int {
	f.omu.Lock()
	defer f.omu.Unlock()
	return len(f.dirty)
}

// reconcile makes the primary agree with the secondary on every key the
// outage touched; keys it could not reconcile stay remembered.
func (f *Fallback) reconcile(ctx context.Context, target *member) error {
	f.omu.Lock()
	keys := make([]string, 0, len(f.dirty))
	for k := range f.dirty {
		keys = append(keys, k)
	}
	f.dirty = map[string]struct{}{}
	f.omu.Unlock()
	for i, k := range keys {
		if err := f.reconcileKey(ctx, target, k); err != nil {
			f.remember(keys[i:]...)
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	return nil
}

func (f *Fallback) reconcileKey(ctx context.Context, target *member, key string) error {
	s, err := f.getSecondary(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return target.s.Delete(ctx, key)
	}
	if err != nil {
		return err
	}
	wrote, err := target.c.CopyIn(ctx, s)
	if err != nil || wrote {
		return err
	}
	p, err := target.s.Get(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // expired meanwhile
	case err != nil:
		return err
	case p.Version > s.Version:
		// A write reached the primary that the secondary never saw
		// (applied after its reply was lost): versions decide.
		_, err = f.sec.c.CopyIn(ctx, p)
		return err
	case p.Version == s.Version && s.IdleDeadline.After(p.IdleDeadline):
		// Touched during the outage.
		err = target.s.Touch(ctx, key, s.LastActivity, s.IdleDeadline)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// warm copies the keys an outage touched into a fresh namespace ahead of
// demand. Best effort: a miss refills the same way later.
func (f *Fallback) warm(target *member, keys []string) {
	defer f.warmers.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				c, cc := f.mirrorCtx(ctx)
				_, _ = f.refill(c, target, k, nil)
				cc()
			}
		}()
	}
	for _, k := range keys {
		if ctx.Err() != nil || f.engaged.Load() || f.cur.Load() != target {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
}

// ---- the mirror queue ----

type opKind uint8

const (
	opPut opKind = iota + 1
	opTouch
	opDelete
)

// mirrorOp is the state of one key that the secondary still has to
// receive. Ops are immutable once queued: merging makes a new one.
type mirrorOp struct {
	kind    opKind
	e       *Entry    // opPut
	la      time.Time // opTouch, or opPut with touched
	idle    time.Time
	touched bool      // opPut: Touch the secondary when CopyIn is refused
	since   time.Time // when the key's pending state was first queued
}

// merge returns the state that applying old then op would leave.
func merge(old, op *mirrorOp) *mirrorOp {
	if old == nil {
		return op
	}
	switch op.kind {
	case opDelete:
		return op
	case opPut:
		if old.kind == opPut && old.e.Version > op.e.Version {
			return old
		}
		return op
	}
	// opTouch
	switch old.kind {
	case opDelete:
		return old
	case opPut:
		if !op.idle.After(old.e.IdleDeadline) && !op.la.After(old.e.LastActivity) {
			return old
		}
		n := *old
		n.e = old.e.Clone()
		n.e.LastActivity, n.e.IdleDeadline = op.la, op.idle
		n.la, n.idle, n.touched = op.la, op.idle, true
		return &n
	}
	return op
}

const lagSamples = 4096

type mirrorQueue struct {
	mu      sync.Mutex
	ops     map[string]*mirrorOp
	order   []string        // keys with a pending op not taken by a worker
	taken   map[string]bool // keys a worker is applying
	size    int
	ready   chan struct{}
	peak    int
	dropped uint64
	applied uint64
	lags    [lagSamples]time.Duration
	nLags   int
}

func (q *mirrorQueue) init(size int) {
	q.ops = map[string]*mirrorOp{}
	q.taken = map[string]bool{}
	q.size = size
	q.ready = make(chan struct{}, 1)
}

func (q *mirrorQueue) notify() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// enqueue merges op into key's pending state; false when the queue is full.
func (f *Fallback) enqueue(key string, op *mirrorOp) bool {
	q := &f.q
	q.mu.Lock()
	old, ok := q.ops[key]
	if !ok && len(q.ops) >= q.size {
		q.dropped++
		q.mu.Unlock()
		f.log.Warn("store: fallback: mirror queue full: dropped a write the secondary will miss", "session", Handle(key))
		return false
	}
	m := merge(old, op)
	if m != old {
		if old != nil {
			m.since = old.since
		} else {
			m.since = time.Now()
		}
	}
	q.ops[key] = m
	if !ok && !q.taken[key] {
		q.order = append(q.order, key)
	}
	q.peak = max(q.peak, len(q.ops))
	q.mu.Unlock()
	q.notify()
	return true
}

func (q *mirrorQueue) get(key string) *mirrorOp {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ops[key]
}

// supersede drops key's pending state when a direct mirror write made it
// obsolete: a put of at most version, or a touch (version 0: any state).
func (q *mirrorQueue) supersede(key string, version uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	op, ok := q.ops[key]
	if !ok {
		return
	}
	if version == 0 || op.kind == opTouch || (op.kind == opPut && op.e.Version <= version && !op.touched) {
		delete(q.ops, key)
	}
}

// take returns the next pending key for a worker, waiting for one.
func (q *mirrorQueue) take(ctx context.Context) (string, *mirrorOp, bool) {
	for {
		q.mu.Lock()
		for len(q.order) > 0 {
			k := q.order[0]
			q.order = q.order[1:]
			if op, ok := q.ops[k]; ok && !q.taken[k] {
				q.taken[k] = true
				more := len(q.order) > 0
				q.mu.Unlock()
				if more {
					q.notify()
				}
				return k, op, true
			}
		}
		if len(q.order) == 0 {
			q.order = nil // let the backing array go
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", nil, false
		case <-q.ready:
		}
	}
}

// finish ends a worker's (or a flush's) application of op to key.
func (q *mirrorQueue) finish(key string, op *mirrorOp, ok, worker bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if worker {
		delete(q.taken, key)
	}
	cur, pending := q.ops[key]
	if ok && pending && cur == op {
		delete(q.ops, key)
		q.applied++
		q.lags[q.nLags%lagSamples] = time.Since(op.since)
		q.nLags++
		return
	}
	if worker && pending {
		q.order = append(q.order, key) // failed, or a newer state came
	}
}

func (q *mirrorQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops)
}

func (q *mirrorQueue) stats(st *FallbackStatus) {
	q.mu.Lock()
	st.QueueDepth, st.QueuePeak = len(q.ops), q.peak
	st.Applied, st.Dropped = q.applied, q.dropped
	now := time.Now()
	for _, op := range q.ops {
		st.QueueLag = max(st.QueueLag, now.Sub(op.since))
	}
	n := min(q.nLags, lagSamples)
	lags := append([]time.Duration(nil), q.lags[:n]...)
	q.mu.Unlock()
	if n == 0 {
		return
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	st.LagP50 = lags[n*50/100]
	st.LagP99 = lags[min(n*99/100, n-1)]
	st.LagMax = lags[n-1]
}

// apply writes op's state for key into the secondary. Refusals that are
// not outages (too large, invalid) are counted and dropped: retrying cannot
// help.
func (f *Fallback) apply(ctx context.Context, key string, op *mirrorOp) error {
	var err error
	switch op.kind {
	case opPut:
		var wrote bool
		wrote, err = f.sec.c.CopyIn(ctx, op.e)
		if err == nil && !wrote && op.touched {
			err = f.sec.s.Touch(ctx, key, op.la, op.idle)
		}
	case opTouch:
		err = f.sec.s.Touch(ctx, key, op.la, op.idle)
	case opDelete:
		err = f.sec.s.Delete(ctx, key)
	}
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return nil
	case outage(err):
		return err
	}
	f.n.mirrorErrors.Add(1)
	f.log.Warn("store: fallback: mirror refused a write", "session", Handle(key), "err", err)
	return nil
}

// flush applies key's pending state now, for a caller about to rely on
// the secondary for it.
func (f *Fallback) flush(ctx context.Context, key string) error {
	op := f.q.get(key)
	if op == nil {
		return nil
	}
	c, cancel := f.mirrorCtx(ctx)
	defer cancel()
	err := f.apply(c, key, op)
	f.q.finish(key, op, err == nil, false)
	return err
}

// flushAll applies every pending state it can before ctx ends and returns
// how many remain.
func (f *Fallback) flushAll(ctx context.Context) int {
	f.q.mu.Lock()
	keys := make([]string, 0, len(f.q.ops))
	for k := range f.q.ops {
		keys = append(keys, k)
	}
	f.q.mu.Unlock()
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		_ = f.flush(ctx, k)
	}
	return f.q.depth()
}

// mirrorWorker copies queued states into the secondary, backing off while
// it fails.
func (f *Fallback) mirrorWorker(ctx context.Context) {
	defer f.bg.Done()
	backoff := time.Duration(0)
	for {
		key, op, ok := f.q.take(ctx)
		if !ok {
			return
		}
		c, cancel := context.WithTimeout(ctx, f.opts.MirrorTimeout)
		err := f.apply(c, key, op)
		cancel()
		f.q.finish(key, op, err == nil, true)
		if err == nil {
			backoff = 0
			if f.q.depth() == 0 {
				f.mirrorDown.Store(false)
			}
			continue
		}
		f.mirrorDown.Store(true)
		backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		f.q.notify()
	}
}

// ---- the generation record ----

// Generation is the record a [Fallback] keeps in its secondary store under
// the reserved key [GenerationKey]: which primary namespace is current, and
// from when secondary copies may be trusted.
type Generation struct {
	// Number names the primary namespace. It only grows: an instance that
	// wrote the secondary without the primary increments it, so no instance
	// reads a namespace that may hold copies older than the secondary's.
	// A store without the record is at generation 1.
	Number uint64
	// TrustFrom is set when the primary served without the secondary (a
	// Redis-only storage mode): secondary copies last active before it may
	// be stale (changed or deleted in the primary since) and are not read
	// through. Zero: every copy is trusted.
	TrustFrom time.Time
	// Unmirrored is set by a mode that writes the primary without the
	// secondary, when it can reach the secondary: from this instant the
	// secondary may be stale. The next mode that reads the secondary turns
	// it into TrustFrom. A Fallback does not use it. Zero: none.
	Unmirrored time.Time
}

// GenerationKey is the reserved store key of the [Generation] record: the
// key of a token text that no token can have, so no cookie can name it. It
// is stored as an anonymous entry that never expires (a hundred years,
// refreshed on every update), never listed by a user index.
var GenerationKey = KeyFromToken("sessions/fallback-generation")

type generationJSON struct {
	Number     uint64 `json:"generation"`
	TrustFrom  int64  `json:"trust_from_ms,omitempty"`
	Unmirrored int64  `json:"unmirrored_ms,omitempty"`
}

// LoadGeneration reads the generation record from s (a Fallback's
// secondary). A missing record is generation 1 with no trust cut-off.
func LoadGeneration(ctx context.Context, s Store) (Generation, error) {
	g, _, err := loadGeneration(ctx, s)
	return g, err
}

func loadGeneration(ctx context.Context, s Store) (Generation, *Entry, error) {
	e, err := s.Get(ctx, GenerationKey)
	if errors.Is(err, ErrNotFound) {
		return Generation{Number: 1}, nil, nil
	}
	if err != nil {
		return Generation{}, nil, fmt.Errorf("store: generation: %w", err)
	}
	var j generationJSON
	if err := json.Unmarshal(e.Payload, &j); err != nil || j.Number == 0 {
		return Generation{}, nil, fmt.Errorf("store: generation: %w: record does not decode", ErrCorrupt)
	}
	g := Generation{Number: j.Number}
	if j.TrustFrom != 0 {
		g.TrustFrom = time.UnixMilli(j.TrustFrom).UTC()
	}
	if j.Unmirrored != 0 {
		g.Unmirrored = time.UnixMilli(j.Unmirrored).UTC()
	}
	return g, e, nil
}

// UpdateGeneration changes the generation record in s with a
// compare-and-set loop: fn gets the current record and returns the new one
// (returning it unchanged writes nothing). It returns the record stored.
func UpdateGeneration(ctx context.Context, s Store, fn func(Generation) Generation) (Generation, error) {
	for range 20 {
		g, e, err := loadGeneration(ctx, s)
		if err != nil {
			return Generation{}, err
		}
		next := fn(g)
		if next.Number == 0 {
			next.Number = 1
		}
		for _, t := range []*time.Time{&next.TrustFrom, &next.Unmirrored} {
			if !t.IsZero() {
				*t = Millis(*t)
			}
		}
		if e != nil && next.Number == g.Number && msOf(next.TrustFrom) == msOf(g.TrustFrom) && msOf(next.Unmirrored) == msOf(g.Unmirrored) {
			return g, nil
		}
		payload, _ := json.Marshal(generationJSON{Number: next.Number, TrustFrom: msOf(next.TrustFrom), Unmirrored: msOf(next.Unmirrored)})
		now := time.Now()
		rec := &Entry{
			Key: GenerationKey, Version: 1, Created: now, LastActivity: now,
			IdleDeadline: now.AddDate(100, 0, 0), AbsoluteDeadline: now.AddDate(100, 0, 0),
			Payload: payload,
		}
		var prev uint64
		if e != nil {
			prev, rec.Version, rec.Created = e.Version, e.Version+1, e.Created
		}
		rec.Normalize()
		err = s.Put(ctx, rec, prev)
		switch {
		case err == nil:
			return next, nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			continue // another instance changed it: read again
		}
		return Generation{}, fmt.Errorf("store: generation: %w", err)
	}
	return Generation{}, fmt.Errorf("store: generation: %w: too many concurrent updates", ErrConflict)
}
