package hybrid

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/vedfolnir/sessions/store"
)

// ListUser returns the user's live entries; see [store.UserIndex]. Healthy, it
// merges both stores' lists (the primary may be cold after an outage, the
// secondary behind by the queue), the higher version winning; engaged, it
// lists the secondary.
func (h *Store) ListUser(ctx context.Context, userID string) (_ []*store.Entry, err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpListUser)
	defer func() { ob.End(err) }()
	if err := h.check("list user", ctx, ""); err != nil {
		return nil, err
	}
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			var pl []*store.Entry
			down, err := h.primary(ctx, false, func(c context.Context) (err error) {
				pl, err = p.ui.ListUser(c, userID)
				return err
			})
			if !down {
				if err != nil {
					return nil, err
				}
				mctx, cancel := h.mirrorCtx(ctx)
				sl, serr := h.sec.ui.ListUser(mctx, userID)
				cancel()
				if serr != nil {
					return pl, nil
				}
				return h.mergeLists(pl, sl), nil
			}
		}
		var out []*store.Entry
		err := h.onSecondary(ctx, "", false, func(c context.Context) error {
			h.flushAll(c)
			sl, err := h.sec.ui.ListUser(c, userID)
			out = slices.DeleteFunc(sl, func(e *store.Entry) bool { return !h.trusted(e) })
			return err
		})
		if err != errRetry {
			ob.Fallback = true
			return out, err
		}
	}
	return nil, fmt.Errorf("hybrid: list user: %w: primary state kept changing", store.ErrUnavailable)
}

func (h *Store) mergeLists(pl, sl []*store.Entry) []*store.Entry {
	byKey := make(map[string]*store.Entry, len(pl)+len(sl))
	for _, e := range pl {
		byKey[e.Key] = e
	}
	for _, e := range sl {
		// A queued state is newer than the secondary's copy.
		if op := h.q.get(e.Key); op != nil {
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
		if h.trusted(e) {
			byKey[e.Key] = e
		}
	}
	out := make([]*store.Entry, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *store.Entry) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// DeleteUser deletes the user's entries except keep from both stores and
// returns how many live entries it deleted (the larger of the two stores'
// counts). The secondary goes first, so refills cannot bring a deleted
// entry back. When the secondary cannot be reached, the primary's entries
// are queued for deletion there and the error is returned (wrapping
// store.ErrUnavailable): entries only the secondary held may survive.
func (h *Store) DeleteUser(ctx context.Context, userID string, keep string) (_ int, err error) {
	ctx, ob := store.Observe(ctx, h.opts.Observer, "hybrid", store.OpDeleteUser)
	defer func() { ob.End(err) }()
	if err := h.check("delete user", ctx, ""); err != nil {
		return 0, err
	}
	if keep != "" && !store.ValidKey(keep) {
		return 0, fmt.Errorf("hybrid: delete user: %w: malformed keep key", store.ErrInvalid)
	}
	done := 0 // entries the secondary already deleted
	for range 4 {
		if !h.engaged.Load() {
			p := h.cur.Load()
			var pl []*store.Entry
			down, err := h.primary(ctx, false, func(c context.Context) (err error) {
				pl, err = p.ui.ListUser(c, userID)
				return err
			})
			if !down && err != nil {
				return 0, err
			}
			if !down {
				if h.opts.WriteBehind {
					// Bring the mirror up to date first, so its count below
					// does not include entries whose newer state (another
					// user, or anonymous) is still queued.
					h.flushAll(ctx)
				}
				// Queue the deletions first: a state still queued for one of
				// these entries becomes a deletion (it cannot land after the
				// secondary's DeleteUser), and a racing refill sees it.
				for _, e := range pl {
					if e.Key != keep {
						h.enqueue(e.Key, &mirrorOp{kind: opDelete})
					}
				}
				mctx, cancel := h.mirrorCtx(ctx)
				n2, serr := h.sec.ui.DeleteUser(mctx, userID, keep)
				cancel()
				done = max(done, n2)
				var n1 int
				down, err = h.primary(ctx, true, func(c context.Context) (err error) {
					n1, err = p.ui.DeleteUser(c, userID, keep)
					return err
				})
				if !down {
					switch {
					case err != nil:
						return n1, err
					case serr != nil:
						return max(n1, n2), fmt.Errorf("hybrid: delete user: secondary: %w", serr)
					}
					if !h.opts.WriteBehind {
						for _, e := range pl {
							if e.Key != keep {
								_ = h.flush(ctx, e.Key)
							}
						}
					}
					return max(n1, n2), nil
				}
			}
		}
		var n int
		err := h.onSecondary(ctx, "", true, func(c context.Context) error {
			h.flushAll(c)
			sl, err := h.sec.ui.ListUser(c, userID)
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(sl))
			for _, e := range sl {
				keys = append(keys, e.Key)
			}
			h.remember(keys...)
			n, err = h.sec.ui.DeleteUser(c, userID, keep)
			return err
		})
		if err != errRetry {
			ob.Fallback = true
			return max(n, done), err
		}
	}
	return 0, fmt.Errorf("hybrid: delete user: %w: primary state kept changing", store.ErrUnavailable)
}
