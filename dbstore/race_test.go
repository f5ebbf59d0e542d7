package dbstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// Racing creates over an expired row, and racing copies of different
// versions, keep the compare-and-set rules on every engine: MySQL's
// insert-then-guarded-update must not let two creators win, nor a lower
// copy overwrite a higher one.
func TestGuardedWritesRace(t *testing.T) {
	engines(t, func(t *testing.T, open func(testing.TB, dbstore.Options) *dbstore.Store, _ func(testing.TB) string) {
		var clk clock
		s := open(t, dbstore.Options{Now: clk.Now, DisableSweeper: true})
		const writers = 24

		t.Run("create over expired", func(t *testing.T) {
			for round := range 4 {
				old := storetest.NewEntry("u")
				if err := s.Put(ctxT(t), old, 0); err != nil {
					t.Fatal(err)
				}
				clk.Advance(31 * time.Minute) // past the idle deadline
				var wg sync.WaitGroup
				errs := make([]error, writers)
				tries := make([]*store.Entry, writers)
				start := make(chan struct{})
				for i := range writers {
					e := storetest.NewEntry("v")
					e.Key = old.Key
					e.Created = clk.Now()
					e.LastActivity = clk.Now()
					e.IdleDeadline = clk.Now().Add(30 * time.Minute)
					e.AbsoluteDeadline = clk.Now().Add(time.Hour)
					e.Payload = []byte(fmt.Sprintf("round %d writer %d", round, i))
					tries[i] = e
					wg.Go(func() {
						<-start
						errs[i] = s.Put(ctxT(t), tries[i], 0)
					})
				}
				close(start)
				wg.Wait()
				winner := -1
				for i, err := range errs {
					switch {
					case err == nil && winner >= 0:
						t.Fatalf("round %d: writers %d and %d both took the expired key", round, winner, i)
					case err == nil:
						winner = i
					case !errorsIsConflict(err):
						t.Fatalf("round %d: writer %d: %v; want nil or ErrConflict", round, i, err)
					}
				}
				if winner < 0 {
					t.Fatalf("round %d: nobody took the expired key", round)
				}
				got, err := s.Get(ctxT(t), old.Key)
				if err != nil || string(got.Payload) != string(tries[winner].Payload) {
					t.Fatalf("round %d: stored %v, %v; want writer %d's", round, got, err, winner)
				}
			}
		})

		t.Run("copies of different versions", func(t *testing.T) {
			for round := range 4 {
				base := storetest.NewEntry("u")
				base.Created, base.LastActivity = clk.Now(), clk.Now()
				base.IdleDeadline, base.AbsoluteDeadline = clk.Now().Add(30*time.Minute), clk.Now().Add(time.Hour)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range writers {
					e := *base
					e.Version = uint64(i + 1)
					e.Payload = []byte(fmt.Sprintf("version %d", i+1))
					wg.Go(func() {
						<-start
						if _, err := s.CopyIn(ctxT(t), &e); err != nil {
							t.Errorf("round %d: CopyIn version %d: %v", round, e.Version, err)
						}
					})
				}
				close(start)
				wg.Wait()
				got, err := s.Get(ctxT(t), base.Key)
				if err != nil || got.Version != writers || string(got.Payload) != fmt.Sprintf("version %d", writers) {
					t.Fatalf("round %d: stored %+v, %v; want the highest version, %d", round, got, err, writers)
				}
			}
		})
	})
}

func errorsIsConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// MySQL's sweep is a DELETE ... LIMIT of its own: it too goes on, batch
// after batch, until nothing expired is left.
func TestSweepBatchesMySQL(t *testing.T) {
	s := openMySQL(t, dbstore.Options{DisableSweeper: true})
	const rows = 2345
	var q strings.Builder
	q.WriteString("INSERT INTO sessions (`key`, version, created, last_activity, idle_deadline, absolute_deadline, deadline, payload) VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "('k%05d', 1, 0, 0, %d, %d, %d, '')", i, i, i, i)
	}
	if _, err := s.DB().ExecContext(ctxT(t), q.String()); err != nil {
		t.Fatal(err)
	}
	live := storetest.NewEntry("u")
	if err := s.Put(ctxT(t), live, 0); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(ctxT(t))
	if err != nil || n != rows {
		t.Fatalf("Sweep: %d, %v; want %d, nil", n, err, rows)
	}
	if _, err := s.Get(ctxT(t), live.Key); err != nil {
		t.Fatalf("the live entry did not survive the sweep: %v", err)
	}
}
