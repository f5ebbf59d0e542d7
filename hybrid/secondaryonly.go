package hybrid

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// SecondaryOnly is the secondary store serving alone (a storage mode
// without the primary), keeping the generation record honest for a
// [Store] that runs later, or at the same time on another instance: every
// write marks the record stale, and a goroutine increments it at most once
// per [Options.GenerationInterval] while writes go on (and Close once
// more), so a hybrid instance moves to a fresh primary namespace instead
// of serving copies this one changed. Reads hide copies older than the
// record's trust cut-off, as a Store does. It implements [store.Store],
// [store.GetToucher], [store.UserIndex], [store.Copier] and [store.Pinger].
type SecondaryOnly struct {
	m       *member
	gen     Generation
	trust   trustCut
	written atomic.Bool
	opts    Options
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once
	err     error
}

var (
	_ store.Store      = (*SecondaryOnly)(nil)
	_ store.GetToucher = (*SecondaryOnly)(nil)
	_ store.UserIndex  = (*SecondaryOnly)(nil)
	_ store.Copier     = (*SecondaryOnly)(nil)
	_ store.Pinger     = (*SecondaryOnly)(nil)
)

// OpenSecondaryOnly starts serving from secondary alone. It increments the
// generation record at once (so no primary namespace written before is
// read again by a later [Store]) and, when a [MarkPrimaryOnly] mark is
// present, sets the trust cut-off: the primary served alone since then, so
// the secondary's older copies may be sessions it changed or ended. Of
// opts, GenerationInterval, MirrorTimeout (each record update) and Logger
// are used. The secondary must implement [store.Copier] and
// [store.UserIndex]; the caller keeps ownership of it.
func OpenSecondaryOnly(ctx context.Context, secondary store.Store, opts Options) (*SecondaryOnly, error) {
	opts = opts.withDefaults()
	m, err := newMember("secondary", secondary, 0)
	if err != nil {
		return nil, err
	}
	g, err := updateGeneration(ctx, secondary, func(r *generationRecord) {
		r.Number++
		if r.Unmirrored != 0 {
			r.TrustFrom, r.Unmirrored = time.Now().UnixMilli(), 0
		}
	})
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &SecondaryOnly{m: m, gen: g, opts: opts, stop: cancel, done: make(chan struct{})}
	s.trust.Store(msOf(g.TrustFrom))
	go s.run(bg)
	return s, nil
}

// Generation returns the generation record as it stood after the start-up
// increment.
func (s *SecondaryOnly) Generation() Generation { return s.gen }

func (s *SecondaryOnly) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.GenerationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.bump(ctx)
		}
	}
}

// bump increments the generation if sessions were written since the last
// increment.
func (s *SecondaryOnly) bump(ctx context.Context) error {
	if !s.written.Swap(false) {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, s.opts.MirrorTimeout)
	defer cancel()
	_, err := updateGeneration(c, s.m.s, func(r *generationRecord) { r.Number++ })
	if err != nil {
		s.written.Store(true)
		s.opts.Logger.Debug("hybrid: secondary only: generation increment failed", "err", err)
	}
	return err
}

// Close stops the upkeep and records a last generation increment when
// sessions were written since the previous one. It does not close the
// secondary. Later calls return the first result.
func (s *SecondaryOnly) Close() error {
	s.once.Do(func() {
		s.stop()
		<-s.done
		if err := s.bump(context.Background()); err != nil {
			s.err = fmt.Errorf("hybrid: secondary only: final generation increment: %w", err)
		}
	})
	return s.err
}

func (s *SecondaryOnly) hide(e *store.Entry, err error) (*store.Entry, error) {
	if err == nil && !s.trust.trusted(e) {
		return nil, fmt.Errorf("hybrid: get: %w: copy predates the trust cut-off", store.ErrNotFound)
	}
	return e, err
}

// Get is the secondary's Get, hiding untrusted copies.
func (s *SecondaryOnly) Get(ctx context.Context, key string) (*store.Entry, error) {
	return s.hide(s.m.s.Get(ctx, key))
}

// GetTouch is the secondary's GetTouch, hiding (and never touching)
// untrusted copies.
func (s *SecondaryOnly) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*store.Entry, error) {
	if s.trust.Load() != 0 {
		if _, err := s.Get(ctx, key); err != nil {
			return nil, err
		}
	}
	s.written.Store(true)
	return s.m.getTouch(ctx, key, now, idle, touchBefore)
}

// Put marks the generation stale and writes.
func (s *SecondaryOnly) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	s.written.Store(true)
	return s.m.s.Put(ctx, e, prev)
}

// Delete marks the generation stale and deletes.
func (s *SecondaryOnly) Delete(ctx context.Context, key string) error {
	s.written.Store(true)
	return s.m.s.Delete(ctx, key)
}

// Touch marks the generation stale and touches.
func (s *SecondaryOnly) Touch(ctx context.Context, key string, la, idle time.Time) error {
	s.written.Store(true)
	return s.m.s.Touch(ctx, key, la, idle)
}

// CopyIn marks the generation stale and copies.
func (s *SecondaryOnly) CopyIn(ctx context.Context, e *store.Entry) (bool, error) {
	s.written.Store(true)
	return s.m.c.CopyIn(ctx, e)
}

// ListUser lists the user's trusted entries.
func (s *SecondaryOnly) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	es, err := s.m.ui.ListUser(ctx, userID)
	return slices.DeleteFunc(es, func(e *store.Entry) bool { return !s.trust.trusted(e) }), err
}

// DeleteUser marks the generation stale and deletes the user's entries.
func (s *SecondaryOnly) DeleteUser(ctx context.Context, userID string, keep string) (int, error) {
	s.written.Store(true)
	return s.m.ui.DeleteUser(ctx, userID, keep)
}

// Ping checks that the secondary answers.
func (s *SecondaryOnly) Ping(ctx context.Context) error { return s.m.ping(ctx) }
