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

		// A newer version of the same user's session is written in place
		// (the fast path on SQLite); so is an anonymous one; a change of
		// user or of creation takes the full copy, and the per-user index
		// follows either way.
		mine := storetest.NewEntry("u3")
		anon := storetest.NewEntry("")
		if _, err := s.CopyInBatch(ctx, []*store.Entry{mine, anon}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name string
			edit func(e *store.Entry)
			user string
		}{
			{"same user, newer", func(e *store.Entry) { e.Payload = []byte("p2") }, "u3"},
			{"same user, older", func(e *store.Entry) { e.Version -= 2; e.Payload = []byte("old") }, "u3"},
			{"user changed", func(e *store.Entry) { e.UserID = "u4"; e.Payload = []byte("p3") }, "u4"},
			{"created changed", func(e *store.Entry) { e.Created = e.Created.Add(-time.Second); e.Payload = []byte("p4") }, "u4"},
		}
		for _, st := range steps {
			prev, err := s.Get(ctx, mine.Key)
			if err != nil {
				t.Fatal(err)
			}
			e := prev.Clone()
			e.Version++
			st.edit(e)
			e.Normalize()
			res, err := s.CopyInBatch(ctx, []*store.Entry{e})
			if err != nil {
				t.Fatal(err)
			}
			older := e.Version <= prev.Version
			if res[0].Wrote == older {
				t.Errorf("%s: wrote %v", st.name, res[0].Wrote)
			}
			got, err := s.Get(ctx, mine.Key)
			if err != nil {
				t.Fatal(err)
			}
			want := e
			if older {
				want = prev
			}
			if got.Version != want.Version || string(got.Payload) != string(want.Payload) || got.UserID != st.user ||
				!got.Created.Equal(want.Created) || !got.IdleDeadline.Equal(want.IdleDeadline) {
				t.Errorf("%s: stored %+v, want %+v", st.name, got, want)
			}
			list, err := s.ListUser(ctx, st.user)
			if err != nil || len(list) != 1 || list[0].Key != mine.Key {
				t.Errorf("%s: %s's index lists %d sessions (%v)", st.name, st.user, len(list), err)
			}
		}
		a2 := anon.Clone()
		a2.Version++
		a2.Payload = []byte("anon2")
		if res, err := s.CopyInBatch(ctx, []*store.Entry{a2}); err != nil || !res[0].Wrote {
			t.Fatalf("anonymous update: %+v %v", res, err)
		}
		if got, err := s.Get(ctx, anon.Key); err != nil || string(got.Payload) != "anon2" {
			t.Fatalf("anonymous update stored %+v %v", got, err)
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
