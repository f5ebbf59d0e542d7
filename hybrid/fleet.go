package hybrid

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// A fleet: several instances on one primary and one secondary.
//
// An instance that cannot reach the primary writes the secondary alone,
// and every other instance must not serve a primary copy older than such
// a write once it is acknowledged. With a Namespace, the instances
// coordinate through the generation record in the secondary:
//
//  1. The lease. Before it acknowledges a secondary-only write, an
//     instance makes sure the record holds a live lease of its own
//     (LeaseUntil, wall clock, at least LeaseDuration/2 ahead; renewed on
//     later writes). When it had to start its lease (or renew one that
//     others might take as ended before they poll again), it waits
//     FleetWindow after the lease is stored before acknowledging: every
//     other instance polls the record each FleetPollInterval, so by then
//     each has seen the lease, or has gone that long without a poll, which
//     makes it suspicious anyway. Another instance's lease does not spare
//     the wait: it may be seconds old or just stored, and only a lease
//     every instance has seen covers the write.
//  2. Suspicion. An instance is suspicious while the record's lease is
//     live (within ClockSkew), while its own last successful poll is older
//     than FleetWindow, and for FleetWindow after it
//     moved to another namespace. A suspicious instance reads both stores
//     and serves the higher version (repairing the primary), so the
//     secondary, which holds every acknowledged write (write-through),
//     decides.
//  3. Ending. An instance that recovers increments the generation (under
//     the lock that holds back its secondary-only calls), then removes its
//     lease: the new namespace is newer than all its writes. A lease that
//     expires instead (its holder died) is removed by the first instance to
//     see it expired by more than ClockSkew, which increments the
//     generation for it. Either way every instance moves to a namespace
//     that holds no copy older than a secondary-only write, and the move
//     keeps each instance suspicious while the others move too.
//
// So no instance serves, from the primary, a copy older than a write any
// instance acknowledged. What the argument assumes: write-through (with
// WriteBehind an acknowledged write may not be in the secondary yet);
// instance clocks within ClockSkew of each other; LeaseDuration/2 longer
// than ClockSkew; and polls that complete: an instance whose poll is
// delayed past FleetWindow (a stalled process) reads both stores
// until it polls again. It costs a secondary read per request from the
// start of an outage until the last lease is removed, and an instance's
// first secondary-only write of an outage waits FleetWindow.

// fleet is the instance's view of the coordination record.
type fleet struct {
	id    string // this instance's lease id
	start time.Time
	// lastPoll and movedAt are monotonic nanoseconds since start.
	lastPoll atomic.Int64
	movedAt  atomic.Int64
	// leaseUntil is the latest end of the record's leases (unix ms) as
	// last seen.
	leaseUntil atomic.Int64

	mu sync.Mutex // serializes lease publication
	// ownUntil is the LeaseUntil this instance last stored (unix ms);
	// armedAt is when its secondary-only writes may be acknowledged
	// (monotonic nanoseconds since start).
	ownUntil int64
	armedAt  int64
}

func (f *fleet) mono() int64 { return int64(time.Since(f.start)) }

// coordinated reports whether the store coordinates with a fleet.
func (h *Store) coordinated() bool { return h.opts.Namespace != nil }

// suspicious reports whether primary copies must be checked against the
// secondary before they are served.
func (h *Store) suspicious() bool {
	if !h.coordinated() {
		return false
	}
	window := int64(h.opts.FleetWindow)
	now := h.fl.mono()
	if now-h.fl.lastPoll.Load() > window || now-h.fl.movedAt.Load() < window {
		return true
	}
	return time.Now().UnixMilli() <= h.fl.leaseUntil.Load()+h.opts.ClockSkew.Milliseconds()
}

// armLease makes sure a live lease covers a secondary-only write about to
// be acknowledged, waiting out a fresh lease's announcement.
func (h *Store) armLease(ctx context.Context) error {
	if !h.coordinated() {
		return nil
	}
	f := &h.fl
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UnixMilli()
	if f.ownUntil-now < h.opts.LeaseDuration.Milliseconds()/2 {
		until := now + h.opts.LeaseDuration.Milliseconds()
		// Announce, unless the other instances already know a lease of
		// ours that stays live, in their view, until each has polled
		// again (within FleetWindow, or it is suspicious anyway). Another
		// instance's live lease is no excuse: it may have been stored a
		// moment ago, and an instance that has not polled since knows of
		// no lease at all. (Skipping the wait then let a second writer of
		// an outage acknowledge at once, and a third instance serve a
		// Redis copy older than that write.)
		announce := f.ownUntil+h.opts.ClockSkew.Milliseconds() < now+h.opts.FleetWindow.Milliseconds()
		// The caller's deadline, not MirrorTimeout: at the start of an
		// outage every request queues on the secondary at once, and this
		// write is what lets them all through.
		_, err := updateGeneration(ctx, h.sec.s, func(r *generationRecord) {
			if r.Leases == nil {
				r.Leases = map[string]int64{}
			}
			r.Leases[f.id] = max(r.Leases[f.id], until)
		})
		if err != nil {
			return err
		}
		f.ownUntil = until
		f.leaseUntil.Store(max(f.leaseUntil.Load(), until))
		if announce {
			f.armedAt = max(f.armedAt, f.mono()+int64(h.opts.FleetWindow))
		}
	}
	if wait := time.Duration(f.armedAt - f.mono()); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// fleetLoop polls the record every FleetPollInterval: it follows the
// generation (while healthy), the lease, and settles an expired lease.
func (h *Store) fleetLoop(ctx context.Context) {
	defer h.bg.Done()
	t := time.NewTicker(h.opts.FleetPollInterval)
	defer t.Stop()
	for {
		h.pollFleet(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Store) pollFleet(ctx context.Context) {
	f := &h.fl
	began := f.mono()
	c, cancel := h.mirrorCtx(ctx)
	defer cancel()
	r, err := loadRecord(c, h.sec.s)
	if err != nil {
		return
	}
	skew := h.opts.ClockSkew.Milliseconds()
	now := time.Now().UnixMilli()
	expired := map[string]int64{}
	for id, until := range r.Leases {
		if now > until+skew {
			expired[id] = until
		}
	}
	if len(expired) > 0 {
		// Settle: a fresh namespace, newer than every write made under
		// the expired leases (their holders did not recover: they would
		// have removed them after their own increment).
		settled, err := updateGeneration(c, h.sec.s, func(cur *generationRecord) {
			n := 0
			for id, until := range expired {
				if cur.Leases[id] == until {
					delete(cur.Leases, id)
					n++
				}
			}
			if n > 0 {
				cur.Number++
			}
		})
		if err != nil {
			return
		}
		if r, err = loadRecord(c, h.sec.s); err != nil {
			return
		}
		h.log.Debug("hybrid: fleet lease settled", "generation", settled.Number)
	}
	f.leaseUntil.Store(r.leaseEnd())
	h.trustFrom.Store(r.TrustFrom)
	h.latestGen.Store(max(h.latestGen.Load(), r.Number))
	if !h.engaged.Load() && r.Number > h.cur.Load().gen {
		h.moveTo(r.Number)
	}
	f.lastPoll.Store(began)
}

// holdsLease reports whether this instance stored a lease not yet
// released.
func (h *Store) holdsLease() bool {
	h.fl.mu.Lock()
	defer h.fl.mu.Unlock()
	return h.fl.ownUntil != 0
}

// releaseLease removes this instance's lease, once the generation
// increment that covers its secondary-only writes is stored (recovery).
func (h *Store) releaseLease(ctx context.Context) {
	f := &h.fl
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ownUntil == 0 {
		return
	}
	c, cancel := h.mirrorCtx(ctx)
	defer cancel()
	if _, err := updateGeneration(c, h.sec.s, func(r *generationRecord) { delete(r.Leases, f.id) }); err != nil {
		// It expires instead, and whoever sees that increments the
		// generation once more.
		h.log.Debug("hybrid: fleet lease release failed", "err", err)
		return
	}
	f.ownUntil, f.armedAt = 0, 0
}

// moveTo switches a healthy store to generation gen's namespace.
func (h *Store) moveTo(gen uint64) {
	m, err := h.namespace(gen)
	if err != nil {
		h.log.Error("hybrid: namespace", "generation", gen, "err", err)
		return
	}
	h.fl.movedAt.Store(h.fl.mono())
	h.cur.Store(m)
	h.n.switches.Add(1)
	if h.opts.OnGeneration != nil {
		h.opts.OnGeneration(gen)
	}
}

// fresher returns the newer of e (the primary's copy) and the
// secondary's, for a suspicious store; a newer secondary copy is copied
// into the primary. A secondary that cannot answer leaves e as it is: it
// holds no write the primary lacks then, since no instance could have
// written it alone.
func (h *Store) fresher(ctx context.Context, p *member, e *store.Entry) *store.Entry {
	sctx, cancel := context.WithTimeout(ctx, h.opts.MirrorTimeout)
	defer cancel()
	s, err := h.getSecondary(sctx, e.Key)
	if err != nil || s.Version < e.Version || s.Version == e.Version && !s.IdleDeadline.After(e.IdleDeadline) {
		return e
	}
	_, _ = h.primary(ctx, false, func(c context.Context) error {
		_, err := p.c.CopyIn(c, s)
		return err
	})
	return s
}
