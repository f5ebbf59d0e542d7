package storage

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
)

// dbGuard is the database mode's store: the SQL store, plus the upkeep
// that keeps a later hybrid start honest. Every write marks the generation
// record stale; a goroutine increments it at most once per interval while
// writes go on (and Close once more), so a hybrid instance running at the
// same time moves to a fresh Redis namespace instead of serving copies
// this mode changed. Reads hide copies older than the record's trust
// cut-off, as a Fallback does.
type dbGuard struct {
	*dbstore.Store
	trustFrom int64 // unix ms, fixed at start
	written   atomic.Bool
	log       *slog.Logger
	stop      context.CancelFunc
	done      chan struct{}
	once      sync.Once
	err       error
}

var (
	_ store.Store      = (*dbGuard)(nil)
	_ store.GetToucher = (*dbGuard)(nil)
	_ store.UserIndex  = (*dbGuard)(nil)
	_ store.Copier     = (*dbGuard)(nil)
	_ store.Pinger     = (*dbGuard)(nil)
)

func newDBGuard(db *dbstore.Store, g store.Generation, every time.Duration, log *slog.Logger) *dbGuard {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dbGuard{Store: db, log: log, stop: cancel, done: make(chan struct{})}
	if !g.TrustFrom.IsZero() {
		d.trustFrom = g.TrustFrom.UnixMilli()
	}
	go d.run(ctx, every)
	return d
}

func (d *dbGuard) run(ctx context.Context, every time.Duration) {
	defer close(d.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = d.bump(ctx)
		}
	}
}

// bump increments the generation if sessions were written since the last
// increment.
func (d *dbGuard) bump(ctx context.Context) error {
	if !d.written.Swap(false) {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := store.UpdateGeneration(c, d.Store, func(g store.Generation) store.Generation {
		g.Number++
		return g
	})
	if err != nil {
		d.written.Store(true)
		d.log.Debug("storage: generation increment failed", "err", err)
	}
	return err
}

func (d *dbGuard) close() error {
	d.once.Do(func() {
		d.stop()
		<-d.done
		if err := d.bump(context.Background()); err != nil {
			d.err = fmt.Errorf("storage: final generation increment: %w", err)
		}
	})
	return d.err
}

func (d *dbGuard) trusted(e *store.Entry) bool {
	return d.trustFrom == 0 || e.LastActivity.UnixMilli() >= d.trustFrom
}

func (d *dbGuard) hide(e *store.Entry, err error) (*store.Entry, error) {
	if err == nil && !d.trusted(e) {
		return nil, fmt.Errorf("storage: get: %w: copy predates the trust cut-off", store.ErrNotFound)
	}
	return e, err
}

// Get is the SQL store's Get, hiding untrusted copies.
func (d *dbGuard) Get(ctx context.Context, key string) (*store.Entry, error) {
	return d.hide(d.Store.Get(ctx, key))
}

// GetTouch is the SQL store's GetTouch, hiding (and never touching)
// untrusted copies.
func (d *dbGuard) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*store.Entry, error) {
	if d.trustFrom != 0 {
		if _, err := d.Get(ctx, key); err != nil {
			return nil, err
		}
	}
	d.written.Store(true)
	return d.Store.GetTouch(ctx, key, now, idle, touchBefore)
}

// Put marks the generation stale and writes.
func (d *dbGuard) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	d.written.Store(true)
	return d.Store.Put(ctx, e, prev)
}

// Delete marks the generation stale and deletes.
func (d *dbGuard) Delete(ctx context.Context, key string) error {
	d.written.Store(true)
	return d.Store.Delete(ctx, key)
}

// Touch marks the generation stale and touches.
func (d *dbGuard) Touch(ctx context.Context, key string, la, idle time.Time) error {
	d.written.Store(true)
	return d.Store.Touch(ctx, key, la, idle)
}

// CopyIn marks the generation stale and copies.
func (d *dbGuard) CopyIn(ctx context.Context, e *store.Entry) (bool, error) {
	d.written.Store(true)
	return d.Store.CopyIn(ctx, e)
}

// ListUser lists the user's trusted entries.
func (d *dbGuard) ListUser(ctx context.Context, userID string) ([]*store.Entry, error) {
	es, err := d.Store.ListUser(ctx, userID)
	return slices.DeleteFunc(es, func(e *store.Entry) bool { return !d.trusted(e) }), err
}

// DeleteUser marks the generation stale and deletes the user's entries.
func (d *dbGuard) DeleteUser(ctx context.Context, userID string, keep string) (int, error) {
	d.written.Store(true)
	return d.Store.DeleteUser(ctx, userID, keep)
}
