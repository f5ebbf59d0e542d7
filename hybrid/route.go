package hybrid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// engage sends calls to the secondary and cancels primary calls in flight.
// It may run under the breaker's lock: it must not call the breaker.
func (h *Store) engage() {
	if !h.engaged.CompareAndSwap(false, true) {
		return
	}
	h.omu.Lock()
	h.engagedAt = time.Now()
	h.omu.Unlock()
	h.epochMu.Lock()
	h.endEp()
	h.epochMu.Unlock()
	h.n.engagements.Add(1)
	h.signal()
}

func (h *Store) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *Store) currentEpoch() context.Context {
	h.epochMu.Lock()
	defer h.epochMu.Unlock()
	return h.epoch
}

// primary runs fn on the primary under the breaker, bounded by
// PrimaryTimeout and cancelled if the store engages meanwhile. down
// reports an outage: the caller then runs the operation on the secondary. A
// write that fails that way opens the breaker at once.
//
// A call that timed out is held against the primary only if the primary
// also fails a ping (see primaryAnswers): on a saturated server, calls time
// out because their goroutines wait to be scheduled, not because the
// primary is slow, and engaging would send every session to the
// secondary, and later refill it from there, just when the server has no
// capacity to spare. Such a call is retried once on the primary within
// the caller's own deadline (every primary operation tolerates a repeat:
// a write applied by the first attempt makes the second a conflict, which
// callers resolve as for any concurrent writer).
func (h *Store) primary(ctx context.Context, write bool, fn func(context.Context) error) (down bool, err error) {
	done, allowErr := h.cb.Allow()
	cctx, cancel := context.WithTimeout(ctx, h.opts.PrimaryTimeout)
	if h.mirrorDown.Load() {
		// The secondary is failing: there is nowhere to fail over to, so a
		// slow primary gets the caller's whole deadline.
		cancel()
		cctx, cancel = context.WithCancel(ctx)
	}
	epoch := h.currentEpoch()
	stop := context.AfterFunc(epoch, cancel)
	err = fn(cctx)
	stop()
	cancel()
	down = err != nil && ctx.Err() == nil && outage(err)
	if down && epoch.Err() == nil && timedOut(err) && h.primaryAnswers(ctx, !write) {
		h.n.saturated.Add(1)
		rctx, rcancel := context.WithCancel(ctx)
		stop := context.AfterFunc(epoch, rcancel)
		err = fn(rctx)
		stop()
		rcancel()
		down = err != nil && ctx.Err() == nil && outage(err)
		if down && timedOut(err) {
			// The caller's deadline, not the primary: nothing to count.
			if allowErr == nil {
				done(errExcluded)
			}
			return false, err
		}
	}
	if allowErr == nil {
		switch {
		case down:
			if write {
				h.tripNow.Store(true)
			}
			done(errOutage)
		case err != nil && ctx.Err() != nil:
			done(errExcluded)
		default:
			done(nil)
		}
	}
	if down {
		h.n.failovers.Add(1)
		if write {
			h.engage()
		}
	}
	return down, err
}

// timedOut reports whether err is a timeout (a context deadline or a
// network timeout) rather than a refusal or a closed connection.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// pongFresh is how long a ping the primary answered vouches for it.
const pongFresh = 100 * time.Millisecond

// pingState is the single ping in flight that judges timeouts.
type pingState struct {
	mu       sync.Mutex
	inflight chan struct{} // closed when the ping in flight has answered
	ok       bool          // the last ping succeeded
	at       time.Time     // when it ended
}

// primaryAnswers reports whether the primary answers a ping within
// max(2×PrimaryTimeout, ProbeInterval): a bound loose enough that the
// server's own scheduling delay does not fail it, tight enough that a hung
// primary still engages the fallback soon. Concurrent callers share one
// ping, and a success vouches for the primary for pongFresh. A read waits
// for the ping at most half its remaining deadline, a write (whose
// fallback does more) a quarter, and counts the timeout when the ping has
// not answered by then.
func (h *Store) primaryAnswers(ctx context.Context, read bool) bool {
	share := time.Duration(4)
	if read {
		share = 2
	}
	ps := &h.pong
	ps.mu.Lock()
	if ps.ok && time.Since(ps.at) < pongFresh {
		ps.mu.Unlock()
		return true
	}
	ch := ps.inflight
	if ch == nil {
		ch = make(chan struct{})
		ps.inflight = ch
		go h.ping(ch)
	}
	ps.mu.Unlock()
	// Wait at most a share of the caller's remaining time: if the primary
	// is down after all, the rest serves the call from the secondary.
	var expire <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(dl) / share)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-ch:
	case <-expire:
		return false
	case <-ctx.Done():
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.ok
}

// ping runs the shared ping and closes ch with its result recorded.
func (h *Store) ping(ch chan struct{}) {
	bound := max(2*h.opts.PrimaryTimeout, h.opts.ProbeInterval)
	ctx, cancel := context.WithTimeout(h.currentEpoch(), bound)
	err := h.cur.Load().ping(ctx)
	cancel()
	ps := &h.pong
	ps.mu.Lock()
	ps.ok, ps.at, ps.inflight = err == nil, time.Now(), nil
	ps.mu.Unlock()
	close(ch)
}

// onSecondary runs fn on the secondary for a call the primary cannot
// serve. While engaged it holds the flip lock shared (so recovery waits for
// it) and remembers key; a write outside an engagement (recovery happened
// meanwhile) returns errRetry so the caller goes back to the primary. The
// key's queued mirror state is applied first, so the secondary is current.
func (h *Store) onSecondary(ctx context.Context, key string, write bool, fn func(context.Context) error) error {
	if h.engaged.Load() {
		h.flip.RLock()
		defer h.flip.RUnlock()
		if !h.engaged.Load() {
			return errRetry
		}
		if key != "" {
			h.remember(key)
		}
	} else if write {
		return errRetry
	}
	if key != "" {
		_ = h.flush(ctx, key)
	}
	if write {
		h.pendingBump.Store(true)
		if err := h.armLease(ctx); err != nil {
			return fmt.Errorf("hybrid: fleet lease: %w: %w", store.ErrUnavailable, err)
		}
	}
	return fn(ctx)
}

// remember records a key touched during the outage.
func (h *Store) remember(keys ...string) {
	h.omu.Lock()
	defer h.omu.Unlock()
	for _, k := range keys {
		if _, ok := h.dirty[k]; ok {
			continue
		}
		if len(h.dirty) >= h.opts.MaxOutageKeys {
			h.dirtyLost = true
			return
		}
		h.dirty[k] = struct{}{}
	}
}

func (h *Store) check(op string, ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hybrid: %s: %w", op, err)
	}
	if key != "" && !store.ValidKey(key) {
		return fmt.Errorf("hybrid: %s: %w: malformed key", op, store.ErrInvalid)
	}
	return nil
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// trustCut is the trust cut-off of secondary copies ([Generation.TrustFrom])
// in unix ms; 0: every copy is trusted.
type trustCut struct{ atomic.Int64 }

// trusted reports whether a secondary copy may be served.
func (t *trustCut) trusted(e *store.Entry) bool {
	tf := t.Load()
	return tf == 0 || e.LastActivity.UnixMilli() >= tf
}

// trusted reports whether a secondary copy may be served.
func (h *Store) trusted(e *store.Entry) bool { return h.trustFrom.trusted(e) }

func (h *Store) mirrorCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.opts.MirrorTimeout)
}
