package record_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/record"
	"github.com/vedfolnir/sessions/store"
)

type counter struct {
	N int `json:"n"`
}

func open(t *testing.T) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), dbstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var key = store.KeyFromToken("sessions/record-test")

// A missing record loads as not found; Update writes it as a reserved,
// anonymous entry that does not expire; an unchanged record is not
// rewritten.
func TestLoadUpdate(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if v, found, err := record.Load[counter](ctx, s, key); err != nil || found || v.N != 0 {
		t.Fatalf("Load of nothing = %+v, %v, %v", v, found, err)
	}
	inc := func(c counter, _ bool) (counter, bool, error) { c.N++; return c, true, nil }
	if v, err := record.Update(ctx, s, key, inc); err != nil || v.N != 1 {
		t.Fatalf("first Update = %+v, %v", v, err)
	}
	e, err := s.Get(ctx, key)
	if err != nil || e.UserID != "" || e.Version != 1 || time.Until(e.Deadline()) < 50*365*24*time.Hour {
		t.Fatalf("stored entry %+v, %v", e, err)
	}
	same := func(c counter, _ bool) (counter, bool, error) { return c, false, nil }
	if v, err := record.Update(ctx, s, key, same); err != nil || v.N != 1 {
		t.Fatalf("unchanged Update = %+v, %v", v, err)
	}
	if e, _ := s.Get(ctx, key); e.Version != 1 {
		t.Errorf("an unchanged record was rewritten: version %d", e.Version)
	}
	boom := errors.New("boom")
	if _, err := record.Update(ctx, s, key, func(c counter, _ bool) (counter, bool, error) { return c, true, boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: %v", err)
	}
}

// Concurrent updates lose none of each other's changes.
func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := record.Update(ctx, s, key, func(c counter, _ bool) (counter, bool, error) { c.N++; return c, true, nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v, _, err := record.Load[counter](ctx, s, key); err != nil || v.N != 8 {
		t.Fatalf("after 8 increments: %+v, %v", v, err)
	}
}

// Bytes that do not decode are ErrCorrupt, never a zero record.
func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	e := &store.Entry{Key: key, Version: 1, Created: now, LastActivity: now, IdleDeadline: now.Add(time.Hour),
		AbsoluteDeadline: now.Add(time.Hour), Payload: []byte("{not json")}
	e.Normalize()
	if err := s.Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := record.Load[counter](ctx, s, key); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Load = %v, want ErrCorrupt", err)
	}
	if _, err := record.Update(ctx, s, key, func(c counter, _ bool) (counter, bool, error) { return c, true, nil }); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Update = %v, want ErrCorrupt", err)
	}
}
