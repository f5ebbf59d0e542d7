package hybrid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/vedfolnir/sessions/store"
)

// supervise runs the store's upkeep: engagement notices, probes and
// recovery, and the generation record.
func (h *Store) supervise(ctx context.Context) {
	defer h.bg.Done()
	probe := time.NewTicker(h.opts.ProbeInterval)
	defer probe.Stop()
	var genC <-chan time.Time
	if h.opts.Namespace != nil {
		t := time.NewTicker(h.opts.GenerationInterval)
		defer t.Stop()
		genC = t.C
	}
	notified := false
	var lastBump time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-probe.C:
		case <-genC:
			// The fleet loop follows the generation; this tick paces the
			// increments of an engaged store below.
		}
		if !h.engaged.Load() {
			continue
		}
		if !notified {
			notified = true
			lastBump = time.Time{}
			h.log.Warn("hybrid: primary unavailable, serving from the secondary")
			h.notify(true)
		}
		if h.opts.Namespace != nil && h.pendingBump.Load() && time.Since(lastBump) >= h.opts.GenerationInterval {
			if h.bump(ctx) == nil {
				lastBump = time.Now()
			}
		}
		if h.tryRecover(ctx) {
			notified = false
			h.log.Info("hybrid: primary recovered", "generation", h.cur.Load().gen)
			h.notify(false)
		}
	}
}

func (h *Store) notify(engaged bool) {
	if h.opts.OnStateChange != nil {
		h.opts.OnStateChange(engaged)
	}
}

// bump increments the generation record above every generation this
// store knows.
func (h *Store) bump(ctx context.Context) error {
	h.pendingBump.Store(false)
	c, cancel := h.mirrorCtx(ctx)
	defer cancel()
	known := max(h.latestGen.Load(), h.cur.Load().gen)
	g, err := updateGeneration(c, h.sec.s, func(r *generationRecord) {
		r.Number = max(r.Number, known) + 1
	})
	if err != nil {
		h.pendingBump.Store(true)
		h.log.Debug("hybrid: generation increment failed", "err", err)
		return err
	}
	h.latestGen.Store(g.Number)
	h.trustFrom.Store(msOf(g.TrustFrom))
	h.n.bumps.Add(1)
	return nil
}

func (h *Store) namespace(gen uint64) (*member, error) {
	s, err := h.opts.Namespace(gen)
	if err != nil {
		return nil, err
	}
	return newMember("primary", s, gen)
}

// tryRecover runs a recovery through the breaker once it allows a probe.
func (h *Store) tryRecover(ctx context.Context) bool {
	if h.cb.State() == gobreaker.StateOpen {
		return false
	}
	done, err := h.cb.Allow()
	if err != nil {
		return false
	}
	moved, err := h.recover(ctx)
	if err != nil {
		h.log.Debug("hybrid: recovery attempt failed", "err", err)
		done(errOutage)
		return false
	}
	done(nil)
	if moved && h.opts.OnGeneration != nil {
		h.opts.OnGeneration(h.cur.Load().gen)
	}
	return true
}

// recover checks the primary and makes it safe to serve before calls go
// back to it: with a Namespace, by moving to a generation newer than every
// secondary-only write; without, by reconciling every key the outage
// touched. Calls on the secondary finish first (the flip lock). moved
// reports a move to another generation's namespace.
func (h *Store) recover(ctx context.Context) (moved bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*h.opts.MirrorTimeout)
	defer cancel()
	target := h.cur.Load()
	if h.opts.Namespace != nil {
		c, cc := h.mirrorCtx(ctx)
		g, err := LoadGeneration(c, h.sec.s)
		cc()
		switch {
		case err == nil:
			h.trustFrom.Store(msOf(g.TrustFrom))
			h.latestGen.Store(max(h.latestGen.Load(), g.Number))
		case h.pendingBump.Load():
			return false, fmt.Errorf("generation record: %w", err)
		}
		if gen := h.latestGen.Load(); gen != target.gen {
			m, err := h.namespace(gen)
			if err != nil {
				return false, err
			}
			target = m
		}
	}
	pctx, pc := context.WithTimeout(ctx, h.opts.PrimaryTimeout)
	err = target.ping(pctx)
	pc()
	if err != nil {
		return false, err
	}
	if h.opts.Namespace == nil {
		// Reconcile in rounds while calls still go to the secondary, so
		// the final round under the lock is short.
		for range 5 {
			if h.dirtyCount() < 64 {
				break
			}
			if err := h.reconcile(ctx, target); err != nil {
				return false, err
			}
		}
	}
	h.flip.Lock()
	defer h.flip.Unlock()
	var warm []string
	if h.opts.Namespace != nil {
		// A lease held means secondary-only writes this engagement; a
		// periodic increment may have raced the last of them, so one more
		// covers them all before the lease goes.
		if h.pendingBump.Load() || h.holdsLease() {
			if err := h.bump(ctx); err != nil {
				return false, err
			}
		}
		if gen := h.latestGen.Load(); gen != target.gen {
			m, err := h.namespace(gen)
			if err != nil {
				return false, err
			}
			target = m
		}
		h.omu.Lock()
		warm = make([]string, 0, len(h.dirty))
		for k := range h.dirty {
			warm = append(warm, k)
		}
		h.dirty, h.dirtyLost = map[string]struct{}{}, false
		h.omu.Unlock()
	} else {
		h.omu.Lock()
		lost := h.dirtyLost
		h.omu.Unlock()
		if lost {
			if !h.lostLogged {
				h.lostLogged = true
				h.log.Error("hybrid: more keys changed during the outage than MaxOutageKeys: staying on the secondary (the primary cannot be reconciled; rebuild the store, or use a Namespace)")
			}
			return false, errors.New("outage keys overflowed")
		}
		if err := h.reconcile(ctx, target); err != nil {
			return false, err
		}
	}
	if h.opts.Namespace != nil {
		h.releaseLease(ctx)
	}
	moved = target.gen != h.cur.Load().gen
	h.cur.Store(target)
	h.epochMu.Lock()
	h.epoch, h.endEp = context.WithCancel(context.Background())
	h.epochMu.Unlock()
	h.engaged.Store(false)
	h.n.recoveries.Add(1)
	if moved {
		h.fl.movedAt.Store(h.fl.mono())
		h.n.switches.Add(1)
	}
	if len(warm) > 0 {
		h.warmers.Add(1)
		go h.warm(target, warm)
	}
	return moved, nil
}

func (h *Store) dirtyCount() int {
	h.omu.Lock()
	defer h.omu.Unlock()
	return len(h.dirty)
}

// reconcile makes the primary agree with the secondary on every key the
// outage touched; keys it could not reconcile stay remembered.
func (h *Store) reconcile(ctx context.Context, target *member) error {
	h.omu.Lock()
	keys := make([]string, 0, len(h.dirty))
	for k := range h.dirty {
		keys = append(keys, k)
	}
	h.dirty = map[string]struct{}{}
	h.omu.Unlock()
	for i, k := range keys {
		if err := h.reconcileKey(ctx, target, k); err != nil {
			h.remember(keys[i:]...)
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	return nil
}

func (h *Store) reconcileKey(ctx context.Context, target *member, key string) error {
	s, err := h.getSecondary(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
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
	case errors.Is(err, store.ErrNotFound):
		return nil // expired meanwhile
	case err != nil:
		return err
	case p.Version > s.Version:
		// A write reached the primary that the secondary never saw
		// (applied after its reply was lost): versions decide.
		_, err = h.sec.c.CopyIn(ctx, p)
		return err
	case p.Version == s.Version && s.IdleDeadline.After(p.IdleDeadline):
		// Touched during the outage.
		err = target.s.Touch(ctx, key, s.LastActivity, s.IdleDeadline)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// warm copies the keys an outage touched into a fresh namespace ahead of
// demand. Best effort: a miss refills the same way later.
func (h *Store) warm(target *member, keys []string) {
	defer h.warmers.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				c, cc := h.mirrorCtx(ctx)
				_, _ = h.refill(c, target, k, nil)
				cc()
			}
		}()
	}
	for _, k := range keys {
		if ctx.Err() != nil || h.engaged.Load() || h.cur.Load() != target {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
}
