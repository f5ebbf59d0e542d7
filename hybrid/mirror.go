package hybrid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// getSecondary reads key from the secondary as a source of truth: queued
// mirror state first, untrusted copies hidden.
func (h *Store) getSecondary(ctx context.Context, key string) (*store.Entry, error) {
	if op := h.q.get(key); op != nil {
		if err := h.flush(ctx, key); err != nil {
			// The secondary is behind and cannot catch up now: the queued
			// state is the truth.
			if op.kind == opDelete {
				return nil, fmt.Errorf("hybrid: get: %w", store.ErrNotFound)
			}
			if op.kind == opPut && !op.e.Expired(time.Now()) {
				return op.e.Clone(), nil
			}
		}
	}
	e, err := h.sec.s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if !h.trusted(e) {
		return nil, fmt.Errorf("hybrid: get: %w: secondary copy predates the trust cut-off", store.ErrNotFound)
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
func (h *Store) refill(ctx context.Context, p *member, key string, miss error) (*store.Entry, error) {
	if h.mirrorDown.Load() && h.q.get(key) == nil {
		return nil, miss
	}
	sctx, cancel := context.WithTimeout(ctx, h.opts.MirrorTimeout)
	defer cancel()
	s, err := h.getSecondary(sctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, miss
	case err != nil:
		return nil, fmt.Errorf("hybrid: primary missed and the secondary failed: %w", err)
	}
	var wrote bool
	if _, cerr := h.primary(ctx, false, func(c context.Context) (err error) {
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
	h.n.refills.Add(1)
	if op := h.q.get(key); (op != nil && op.kind == opDelete) || h.secondaryGone(sctx, key) {
		_ = p.s.Delete(sctx, key)
		return nil, miss
	}
	return s, nil
}

// secondaryGone reports whether the secondary positively has no live entry
// under key.
func (h *Store) secondaryGone(ctx context.Context, key string) bool {
	_, err := h.sec.s.Get(ctx, key)
	return errors.Is(err, store.ErrNotFound)
}

// backfill copies a primary entry the secondary may lack or hold stale
// (last active before the trust cut-off) into the secondary, refreshing its
// activity first so the copy is trusted.
func (h *Store) backfill(ctx context.Context, p *member, e *store.Entry) *store.Entry {
	now := store.Millis(time.Now())
	if err := p.s.Touch(ctx, e.Key, now, e.IdleDeadline); err != nil {
		return e
	}
	e.LastActivity = now
	h.mirrorEntry(ctx, e, true)
	return e
}

// mirrorPut copies a written entry into the secondary (or queues it), and
// detects a secondary that knows a newer history.
func (h *Store) mirrorPut(ctx context.Context, p *member, e *store.Entry) error {
	if h.opts.WriteBehind || h.mirrorDown.Load() {
		h.enqueue(e.Key, &mirrorOp{kind: opPut, e: e.Clone()})
		return nil
	}
	mctx, cancel := h.mirrorCtx(ctx)
	defer cancel()
	wrote, err := h.copyIn(mctx, e)
	switch {
	case err != nil && outage(err):
		h.mirrorDown.Store(true)
		h.enqueue(e.Key, &mirrorOp{kind: opPut, e: e.Clone()})
		return nil
	case err != nil:
		h.n.mirrorErrors.Add(1)
		h.log.Warn("hybrid: mirror refused a write", "session", store.Handle(e.Key), "err", err)
		return nil
	}
	h.q.supersede(e.Key, e.Version)
	if wrote || e.Expired(time.Now()) {
		return nil
	}
	return h.reconcileDivergence(mctx, p, e)
}

// reconcileDivergence handles a mirror write the secondary refused: fine
// when the secondary's copy came through the primary (a concurrent save
// mirrored first), a divergence when the secondary holds a version the
// primary never had.
func (h *Store) reconcileDivergence(ctx context.Context, p *member, e *store.Entry) error {
	s, err := h.sec.s.Get(ctx, e.Key)
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
	h.n.divergences.Add(1)
	adopt := s.Clone()
	adopt.Version = max(s.Version, cur.Version) + 1
	if _, err := h.sec.c.CopyIn(ctx, adopt); err != nil {
		return fmt.Errorf("hybrid: put: %w: the secondary holds a newer copy and could not be adopted: %w", store.ErrConflict, err)
	}
	_, _ = p.c.CopyIn(ctx, adopt)
	return fmt.Errorf("hybrid: put: %w: the secondary held version %d written without the primary; adopted as version %d", store.ErrConflict, s.Version, adopt.Version)
}

// mirrorEntry copies e into the secondary after a touch or a backfill:
// Touch when the secondary has this version, CopyIn when it lacks it (or,
// with copyFirst, may hold an older one).
func (h *Store) mirrorEntry(ctx context.Context, e *store.Entry, copyFirst bool) {
	op := &mirrorOp{kind: opPut, e: e.Clone(), touched: true, la: e.LastActivity, idle: e.IdleDeadline}
	if h.opts.WriteBehind || h.mirrorDown.Load() {
		h.enqueue(e.Key, op)
		return
	}
	mctx, cancel := h.mirrorCtx(ctx)
	defer cancel()
	var err error
	if copyFirst {
		err = h.apply(mctx, e.Key, op)
	} else if err = h.sec.s.Touch(mctx, e.Key, e.LastActivity, e.IdleDeadline); errors.Is(err, store.ErrNotFound) {
		_, err = h.sec.c.CopyIn(mctx, e)
	}
	if err != nil && outage(err) {
		h.mirrorDown.Store(true)
		h.enqueue(e.Key, op)
	}
}

func (h *Store) mirrorDelete(ctx context.Context, key string) {
	op := &mirrorOp{kind: opDelete}
	if h.opts.WriteBehind || h.mirrorDown.Load() {
		h.enqueue(key, op)
		return
	}
	mctx, cancel := h.mirrorCtx(ctx)
	defer cancel()
	if err := h.sec.s.Delete(mctx, key); err != nil {
		if outage(err) {
			h.mirrorDown.Store(true)
		}
		h.enqueue(key, op)
		return
	}
	h.q.supersede(key, 0)
}

func (h *Store) mirrorTouch(ctx context.Context, p *member, key string, la, idle time.Time) {
	op := &mirrorOp{kind: opTouch, la: la, idle: idle}
	if h.opts.WriteBehind || h.mirrorDown.Load() {
		h.enqueue(key, op)
		return
	}
	mctx, cancel := h.mirrorCtx(ctx)
	defer cancel()
	err := h.sec.s.Touch(mctx, key, la, idle)
	if errors.Is(err, store.ErrNotFound) {
		// The secondary lacks the entry: copy it whole.
		var e *store.Entry
		if e, err = p.s.Get(mctx, key); err == nil {
			h.mirrorEntry(ctx, e, true)
			return
		}
	}
	if err != nil && outage(err) {
		h.mirrorDown.Store(true)
		h.enqueue(key, op)
	}
}
