package dbstore

import (
	"context"
	"fmt"
	"time"
)

// Sweep deletes expired rows now and returns how many it deleted. It runs
// in batches of at most 1000 rows per statement, so it never holds a long
// write lock. Reads never serve expired rows whether or not they have been
// swept: sweeping only reclaims space.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		res, err := s.exec(ctx, s.q.sweep, s.now())
		if err != nil {
			return total, fmt.Errorf("dbstore: sweep: %w", unavailable(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("dbstore: sweep: %w", unavailable(err))
		}
		total += int(n)
		if n < sweepBatch {
			return total, nil
		}
	}
}

// sweepLoop runs Sweep every SweepInterval until ctx is done.
func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.sweeperDone)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx)
		if ctx.Err() != nil {
			return // stopped mid-sweep: not worth reporting
		}
		if s.opts.OnSweep != nil {
			s.opts.OnSweep(n, err)
		}
	}
}
