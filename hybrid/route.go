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
// With Options.JudgeTimeouts, a call that timed out is held against the
// primary only if the primary also fails a ping (see primaryAnswers): on a saturated server, calls time
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
	v := silent
	if h.opts.JudgeTimeouts && down && epoch.Err() == nil && timedOut(err) {
		v = h.primaryAnswers(ctx, !write)
	}
	if v == unknown {
		// A read whose timeout is not judged yet: served from the
		// secondary, held against nobody.
		h.n.saturated.Add(1)
		if allowErr == nil {
			done(errExcluded)
		}
		h.n.failovers.Add(1)
		return true, err
	}
	if v == answers {
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

// pingState is the single ping in flight that judges timeouts.
type pingState struct {
	mu       sync.Mutex
	inflight chan struct{} // closed when the ping in flight has answered
	ok       bool          // the last ping succeeded
	at       time.Time     // when it ended
}

// primaryAnswers judges a primary timeout by a ping bounded by
// max(PrimaryTimeout, ProbeInterval): a bound loose enough that the
// server's own scheduling delay does not fail it, tight enough that a hung
// primary still engages the fallback soon. Concurrent callers share one
// ping; its result stands for ProbeInterval. A read does not wait for a
// ping in flight (unknown: it is served from the secondary and counts
// neither way); a write waits briefly, and counts if no answer came.
func (h *Store) primaryAnswers(ctx context.Context, read bool) verdict {
	ps := &h.pong
	ps.mu.Lock()
	if age := time.Since(ps.at); ps.ok && age < h.opts.ProbeInterval {
		if age > h.opts.ProbeInterval/2 && ps.inflight == nil {
			// Renew the verdict before it lapses, while timeouts go on.
			ps.inflight = make(chan struct{})
			go h.ping(ps.inflight)
		}
		ps.mu.Unlock()
		return answers
	}
	if !ps.ok && !ps.at.IsZero() && time.Since(ps.at) < h.opts.ProbeInterval {
		// A ping just failed: the primary is down, no reason to wait.
		ps.mu.Unlock()
		return silent
	}
	ch := ps.inflight
	if ch == nil {
		ch = make(chan struct{})
		ps.inflight = ch
		go h.ping(ch)
	}
	ps.mu.Unlock()
	if read {
		return unknown
	}
	// A write waits at most a quarter of its remaining time, and half a
	// PrimaryTimeout: if the primary is down after all, the rest serves
	// the call from the secondary.
	w := h.opts.PrimaryTimeout / 2
	if dl, ok := ctx.Deadline(); ok {
		w = min(w, time.Until(dl)/4)
	}
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		return silent
	case <-ctx.Done():
		return silent
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ok {
		return answers
	}
	return silent
}

// verdict is what a ping says of a primary timeout.
type verdict uint8

const (
	silent  verdict = iota // the primary does not answer: an outage
	answers                // it answers: the timeout was this process's
	unknown                // not known yet: serve this read elsewhere, count nothing
)

// ping runs the shared ping and closes ch with its result recorded.
func (h *Store) ping(ch chan struct{}) {
	bound := max(h.opts.PrimaryTimeout, h.opts.ProbeInterval)
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
