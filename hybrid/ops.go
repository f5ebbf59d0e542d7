package hybrid

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Get returns the live entry under key: from the primary when healthy
// (filled from the secondary on a miss), from the secondary when not.
func (h *Store) Get(ctx context.Context, key string) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpGet)
	defer func() { ob.End(err) }()
	if err := h.check("get", ctx, key); err != nil {
		return nil, err
	}
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			var e *store.Entry
			down, err := h.primary(ctx, false, func(c context.Context) (err error) {
				e, err = p.s.Get(c, key)
				return err
			})
			if !down {
				switch {
				case err == nil:
					if !h.trusted(e) {
						e = h.backfill(ctx, p, e)
					}
					if h.suspicious() {
						e = h.fresher(ctx, p, e)
					}
					return e, nil
				case errors.Is(err, store.ErrNotFound):
					return h.refill(ctx, p, key, err)
				}
				return nil, err
			}
		}
		var e *store.Entry
		err := h.onSecondary(ctx, key, false, func(c context.Context) (err error) {
			e, err = h.getSecondary(c, key)
			return err
		})
		if err != errRetry {
			ob.Fallback = true
			return e, err
		}
	}
	return nil, fmt.Errorf("hybrid: get: %w: primary state kept changing", store.ErrUnavailable)
}

// GetTouch is Get and a conditional Touch in one call; see [store.GetToucher].
// Healthy, it is one primary operation (plus a mirror of the touch when one
// happened); engaged, it runs on the secondary.
func (h *Store) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpGetTouch)
	defer func() { ob.End(err) }()
	if err := h.check("get", ctx, key); err != nil {
		return nil, err
	}
	tb := touchBefore
	if tf := h.trustFrom.Load(); tf != 0 && tb.UnixMilli() < tf {
		tb = time.UnixMilli(tf) // backfill entries from before the cut-off
	}
	touched := func(e *store.Entry) bool { return e.LastActivity.Equal(store.Millis(now)) }
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			var e *store.Entry
			down, err := h.primary(ctx, false, func(c context.Context) (err error) {
				e, err = p.getTouch(c, key, now, idle, tb)
				return err
			})
			if !down {
				switch {
				case err == nil:
					if touched(e) {
						h.mirrorEntry(ctx, e, h.trustFrom.Load() != 0)
					}
					if h.suspicious() {
						e = h.fresher(ctx, p, e)
					}
					return e, nil
				case errors.Is(err, store.ErrNotFound):
					s, err := h.refill(ctx, p, key, err)
					if err != nil {
						return nil, err
					}
					// Filled: read it again through the primary, touching it
					// when due.
					down, err = h.primary(ctx, false, func(c context.Context) (err error) {
						e, err = p.getTouch(c, key, now, idle, tb)
						return err
					})
					if !down {
						switch {
						case err == nil && touched(e):
							h.mirrorEntry(ctx, e, false)
						case errors.Is(err, store.ErrNotFound):
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
		var e *store.Entry
		// Engaged, the secondary serves and is touched; below the breaker's
		// threshold a failed read is only read from it.
		touch := h.engaged.Load()
		err := h.onSecondary(ctx, key, touch, func(c context.Context) (err error) {
			if !touch || h.trustFrom.Load() != 0 {
				if e, err = h.getSecondary(c, key); err != nil || !touch {
					return err
				}
			}
			e, err = h.sec.getTouch(c, key, now, idle, touchBefore)
			return err
		})
		if err != errRetry {
			ob.Fallback = true
			return e, err
		}
	}
	return nil, fmt.Errorf("hybrid: get: %w: primary state kept changing", store.ErrUnavailable)
}

// Put stores e if the stored version equals prev (see [store.Store.Put]): a
// compare-and-set on the primary, then the mirror write. A primary miss on
// an update is filled from the secondary and the Put retried. When the
// secondary refuses the mirror write because it holds a copy the primary
// never had (written by an instance that could not reach the primary), the
// secondary's copy is adopted by both stores, at a version above both, and
// Put reports store.ErrConflict so the caller's save retries on it.
func (h *Store) Put(ctx context.Context, e *store.Entry, prev uint64) (err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpPut)
	defer func() { ob.End(err) }()
	if err := h.check("put", ctx, ""); err != nil {
		return err
	}
	if err := e.Validate(prev); err != nil {
		return fmt.Errorf("hybrid: put: %w", err)
	}
	refilled := false
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			down, err := h.primary(ctx, true, func(c context.Context) error { return p.s.Put(c, e, prev) })
			if !down {
				switch {
				case err == nil:
					return h.mirrorPut(ctx, p, e)
				case errors.Is(err, store.ErrNotFound) && prev > 0 && !refilled:
					refilled = true
					s, rerr := h.refill(ctx, p, e.Key, err)
					if rerr != nil {
						return rerr
					}
					if s.Version != prev {
						return fmt.Errorf("hybrid: put: %w: stored version %d, expected %d", store.ErrConflict, s.Version, prev)
					}
					continue
				}
				return err
			}
		}
		err := h.onSecondary(ctx, e.Key, true, func(c context.Context) error { return h.sec.s.Put(c, e, prev) })
		if err != errRetry {
			ob.Fallback = true
			return err
		}
	}
	return fmt.Errorf("hybrid: put: %w: primary state kept changing", store.ErrUnavailable)
}

// Delete removes the entry from both stores: the secondary's copy first
// (or its removal queued), then the primary's, so a refill racing the
// delete cannot bring it back.
func (h *Store) Delete(ctx context.Context, key string) (err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpDelete)
	defer func() { ob.End(err) }()
	if err := h.check("delete", ctx, key); err != nil {
		return err
	}
	for range 4 {
		if !h.engaged.Load() {
			h.mirrorDelete(ctx, key)
			p := h.cur.Load()
			down, err := h.primary(ctx, true, func(c context.Context) error { return p.s.Delete(c, key) })
			if !down {
				return err
			}
		}
		err := h.onSecondary(ctx, key, true, func(c context.Context) error { return h.sec.s.Delete(c, key) })
		if err != errRetry {
			ob.Fallback = true
			return err
		}
	}
	return fmt.Errorf("hybrid: delete: %w: primary state kept changing", store.ErrUnavailable)
}

// Touch refreshes the entry in both stores; see [store.Store.Touch].
func (h *Store) Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) (err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpTouch)
	defer func() { ob.End(err) }()
	if err := h.check("touch", ctx, key); err != nil {
		return err
	}
	refilled := false
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			down, err := h.primary(ctx, true, func(c context.Context) error { return p.s.Touch(c, key, lastActivity, idleDeadline) })
			if !down {
				switch {
				case err == nil:
					h.mirrorTouch(ctx, p, key, lastActivity, idleDeadline)
					return nil
				case errors.Is(err, store.ErrNotFound) && !refilled:
					refilled = true
					if _, rerr := h.refill(ctx, p, key, err); rerr != nil {
						return rerr
					}
					continue
				}
				return err
			}
		}
		err := h.onSecondary(ctx, key, true, func(c context.Context) error {
			return h.sec.s.Touch(c, key, lastActivity, idleDeadline)
		})
		if err != errRetry {
			ob.Fallback = true
			return err
		}
	}
	return fmt.Errorf("hybrid: touch: %w: primary state kept changing", store.ErrUnavailable)
}

// CopyIn stores e unless the primary holds it at a version >= e.Version
// (see [store.Copier]), and mirrors what it wrote.
func (h *Store) CopyIn(ctx context.Context, e *store.Entry) (_ bool, err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpCopyIn)
	defer func() { ob.End(err) }()
	if err := h.check("copy in", ctx, ""); err != nil {
		return false, err
	}
	if e == nil {
		return false, fmt.Errorf("hybrid: copy in: %w: nil entry", store.ErrInvalid)
	}
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			var wrote bool
			down, err := h.primary(ctx, true, func(c context.Context) (err error) {
				wrote, err = p.c.CopyIn(c, e)
				return err
			})
			if !down {
				if err == nil && wrote {
					h.mirrorEntry(ctx, e, true)
				}
				return wrote, err
			}
		}
		var wrote bool
		err := h.onSecondary(ctx, e.Key, true, func(c context.Context) (err error) {
			wrote, err = h.sec.c.CopyIn(c, e)
			return err
		})
		if err != errRetry {
			ob.Fallback = true
			return wrote, err
		}
	}
	return false, fmt.Errorf("hybrid: copy in: %w: primary state kept changing", store.ErrUnavailable)
}

// Ping reports nil when the store can serve: the primary answers, or
// the secondary does while the primary does not.
func (h *Store) Ping(ctx context.Context) (err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpPing)
	defer func() { ob.End(err) }()
	if err := h.check("ping", ctx, ""); err != nil {
		return err
	}
	if !h.engaged.Load() {
		err := h.cur.Load().ping(ctx)
		if err == nil || ctx.Err() != nil || !outage(err) {
			return err
		}
	}
	ob.Fallback = true
	return h.sec.ping(ctx)
}
