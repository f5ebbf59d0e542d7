package hybrid

import (
	"context"
	"fmt"
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
func (h *Store) primary(ctx context.Context, write bool, fn func(context.Context) error) (down bool, err error) {
	done, allowErr := h.cb.Allow()
	cctx, cancel := context.WithTimeout(ctx, h.opts.PrimaryTimeout)
	if h.mirrorDown.Load() {
		// The secondary is failing: there is nowhere to fail over to, so a
		// slow primary gets the caller's whole deadline.
		cancel()
		cctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(h.currentEpoch(), cancel)
	err = fn(cctx)
	stop()
	cancel()
	down = err != nil && ctx.Err() == nil && outage(err)
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
