package hybrid_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// secondaryOnly opens s alone, closed at cleanup.
func secondaryOnly(t *testing.T, s store.Store, o hybrid.Options) *hybrid.SecondaryOnly {
	t.Helper()
	so, err := hybrid.OpenSecondaryOnly(context.Background(), s, o)
	if err != nil {
		t.Fatalf("OpenSecondaryOnly: %v", err)
	}
	t.Cleanup(func() { _ = so.Close() })
	return so
}

// The secondary serving alone is a store like any other.
func TestSecondaryOnlyConformance(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		return secondaryOnly(t, sqliteStore(t), hybrid.Options{})
	}, storetest.Options{})
}

// Serving alone increments the generation at start and after writes
// (at Close at the latest), never after reads alone.
func TestSecondaryOnlyIncrements(t *testing.T) {
	ctx := context.Background()
	db := sqliteStore(t)
	if g, err := hybrid.LoadGeneration(ctx, db); err != nil || g.Number != 1 || !g.TrustFrom.IsZero() {
		t.Fatalf("empty store: %+v, %v; want generation 1, no cut-off", g, err)
	}
	so, err := hybrid.OpenSecondaryOnly(ctx, db, hybrid.Options{GenerationInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if so.Generation().Number != 2 {
		t.Fatalf("after start: %+v, want 2", so.Generation())
	}
	e := fresh("u")
	if err := so.Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	if err := so.Close(); err != nil {
		t.Fatal(err)
	}
	if g, _ := hybrid.LoadGeneration(ctx, db); g.Number != 3 {
		t.Fatalf("after a write and Close: %d, want 3", g.Number)
	}
	so = secondaryOnly(t, db, hybrid.Options{GenerationInterval: 20 * time.Millisecond})
	if _, err := so.Get(ctx, e.Key); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := so.Close(); err != nil {
		t.Fatal(err)
	}
	if g, _ := hybrid.LoadGeneration(ctx, db); g.Number != 4 {
		t.Fatalf("after a start and reads only: %d, want 4", g.Number)
	}
}

// A primary-only period marks the secondary stale: the next start trusts
// only copies made from then on.
func TestMarkPrimaryOnlyHidesOlderCopies(t *testing.T) {
	ctx := context.Background()
	db := sqliteStore(t)
	old := fresh("u")
	old.LastActivity = old.LastActivity.Add(-time.Minute)
	if _, err := db.CopyIn(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := hybrid.MarkPrimaryOnly(ctx, db); err != nil {
		t.Fatal(err)
	}
	if g, _ := hybrid.LoadGeneration(ctx, db); !g.TrustFrom.IsZero() {
		t.Fatalf("the mark alone set a cut-off: %+v", g)
	}
	so := secondaryOnly(t, db, hybrid.Options{})
	if tf := so.Generation().TrustFrom; tf.IsZero() || time.Since(tf) > time.Minute {
		t.Fatalf("cut-off %v, want about now", tf)
	}
	if _, err := so.Get(ctx, old.Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a copy older than the cut-off: %v, want ErrNotFound", err)
	}
	if l, err := so.ListUser(ctx, "u"); err != nil || len(l) != 0 {
		t.Errorf("ListUser: %d entries, %v; want none", len(l), err)
	}
	e := fresh("u")
	if err := so.Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := so.Get(ctx, e.Key); err != nil || got.Version != 1 {
		t.Errorf("Get of a copy made after the cut-off: %v, %v", got, err)
	}
}

// ResumeGeneration keeps the record unless the primary served alone, and
// then keeps the primary's namespace unless the secondary moved past it.
func TestResumeGeneration(t *testing.T) {
	tests := []struct {
		name      string
		current   uint64 // the secondary's generation before
		mark      bool   // MarkPrimaryOnly was called
		p         hybrid.PrimaryState
		want      uint64
		wantTrust bool
	}{
		{"hybrid after hybrid", 3, false, hybrid.PrimaryState{Generation: 3}, 3, false},
		{"primary alone in its namespace", 1, false, hybrid.PrimaryState{ServedAlone: true, Generation: 5}, 5, true},
		{"secondary moved past the primary", 3, false, hybrid.PrimaryState{ServedAlone: true, Generation: 1}, 4, true},
		{"marked, primary lost its record", 3, true, hybrid.PrimaryState{}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := sqliteStore(t)
			for range tt.current - 1 {
				if err := secondaryOnly(t, db, hybrid.Options{}).Close(); err != nil {
					t.Fatal(err)
				}
			}
			if g, _ := hybrid.LoadGeneration(ctx, db); g.Number != tt.current {
				t.Fatalf("set-up: generation %d, want %d", g.Number, tt.current)
			}
			if tt.mark {
				if err := hybrid.MarkPrimaryOnly(ctx, db); err != nil {
					t.Fatal(err)
				}
			}
			g, err := hybrid.ResumeGeneration(ctx, db, tt.p)
			if err != nil || g.Number != tt.want || g.TrustFrom.IsZero() == tt.wantTrust {
				t.Fatalf("ResumeGeneration = %+v, %v; want generation %d, cut-off %v", g, err, tt.want, tt.wantTrust)
			}
			if again, _ := hybrid.LoadGeneration(ctx, db); again != g {
				t.Errorf("stored %+v, returned %+v", again, g)
			}
			if g2, _ := hybrid.ResumeGeneration(ctx, db, hybrid.PrimaryState{Generation: g.Number}); g2 != g {
				t.Errorf("a second, ordinary start changed the record: %+v, was %+v", g2, g)
			}
		})
	}
}

// A generation record that does not decode is an error, not generation 1.
func TestGenerationCorrupt(t *testing.T) {
	ctx := context.Background()
	db := sqliteStore(t)
	now := time.Now()
	e := &store.Entry{Key: hybrid.GenerationKey, Version: 1, Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(time.Hour), Payload: []byte(`{"generation":0}`)}
	e.Normalize()
	if err := db.Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := hybrid.LoadGeneration(ctx, db); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("LoadGeneration = %v, want ErrCorrupt", err)
	}
	if _, err := hybrid.OpenSecondaryOnly(ctx, db, hybrid.Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("OpenSecondaryOnly = %v, want ErrCorrupt", err)
	}
}
