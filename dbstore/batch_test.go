package dbstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// CopyInBatch follows CopyIn's rule entry by entry, refuses an invalid
// entry alone, and holds under concurrent batches on the same keys.
func TestCopyInBatch(t *testing.T) {
	engines(t, func(t *testing.T, open func(t testing.TB, opts dbstore.Options) *dbstore.Store, _ func(t testing.TB) string) {
		s := open(t, dbstore.Options{})
		ctx := ctxT(t)
		held := storetest.NewEntry("u1")
		held.Version = 5
		if _, err := s.CopyIn(ctx, held); err != nil {
			t.Fatal(err)
		}
		older := held.Clone()
		older.Version = 4
		newer := storetest.NewEntry("u2")
		newer.Key, newer.Version = held.Key, 6
		fresh := storetest.NewEntry("")
		invalid := storetest.NewEntry("")
		invalid.Key = ""
		expired := storetest.NewEntry("")
		expired.IdleDeadline = time.Now().Add(-time.Minute)
		expired.Normalize()

		cases := []struct {
			name  string
			e     *store.Entry
			wrote bool
			bad   bool
		}{
			{"older version kept out", older, false, false},
			{"newer version over", newer, true, false},
			{"free key", fresh, true, false},
			{"invalid refused alone", invalid, false, true},
			{"expired not written", expired, false, false},
		}
		es := make([]*store.Entry, len(cases))
		for i, c := range cases {
			es[i] = c.e
		}
		res, err := s.CopyInBatch(ctx, es)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			if res[i].Wrote != c.wrote || (res[i].Err != nil) != c.bad {
				t.Errorf("%s: got %+v, want wrote %v, refused %v", c.name, res[i], c.wrote, c.bad)
			}
			if c.bad && !errors.Is(res[i].Err, store.ErrInvalid) {
				t.Errorf("%s: %v does not wrap ErrInvalid", c.name, res[i].Err)
			}
		}
		got, err := s.Get(ctx, held.Key)
		if err != nil || got.Version != 6 || got.UserID != "u2" {
			t.Fatalf("after the batch: %+v %v, want version 6 of u2", got, err)
		}
		if _, err := s.Get(ctx, fresh.Key); err != nil {
			t.Fatalf("free key not written: %v", err)
		}

		// Concurrent batches over the same keys at rising versions: the
		// highest version of each key is what stays.
		keys := make([]*store.Entry, 8)
		for i := range keys {
			keys[i] = storetest.NewEntry("")
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := range 5 {
					batch := make([]*store.Entry, len(keys))
					for i, k := range keys {
						e := k.Clone()
						e.Version = uint64(1 + v*8 + w)
						batch[(i+w)%len(keys)] = e
					}
					if _, err := s.CopyInBatch(ctx, batch); err != nil {
						t.Errorf("batch: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		for _, k := range keys {
			got, err := s.Get(ctx, k.Key)
			if err != nil || got.Version != 40 {
				t.Errorf("key %s: %+v %v, want version 40", store.Handle(k.Key), got, err)
			}
		}
	})
}
