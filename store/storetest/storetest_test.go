package storetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
)

// recorder is a testing.TB that records failures instead of reporting
// them, so a test can assert that a case fails. Methods it does not
// override (Cleanup, TempDir, Context, ...) go to the real test.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msgs    []string
}

func (r *recorder) record(fail bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fail {
		r.failed = true
	} else {
		r.skipped = true
	}
	r.msgs = append(r.msgs, msg)
}

func (r *recorder) Helper()                         {}
func (r *recorder) Log(args ...any)                 {}
func (r *recorder) Logf(format string, args ...any) {}
func (r *recorder) Error(args ...any)               { r.record(true, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.record(true, fmt.Sprintf(format, args...))
}
func (r *recorder) Fail()             { r.record(true, "Fail") }
func (r *recorder) FailNow()          { r.Fail(); runtime.Goexit() }
func (r *recorder) Fatal(args ...any) { r.Error(args...); runtime.Goexit() }
func (r *recorder) Fatalf(f string, args ...any) {
	r.Errorf(f, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.record(false, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Skipf(f string, args ...any) {
	r.record(false, fmt.Sprintf(f, args...))
	runtime.Goexit()
}
func (r *recorder) SkipNow() { r.Skip("SkipNow") }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *recorder) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}

// record runs the named case against s and returns what it reported.
func record(t *testing.T, name string, s store.Store) *recorder {
	t.Helper()
	var c *testCase
	for i := range cases {
		if cases[i].name == name {
			c = &cases[i]
		}
	}
	if c == nil {
		t.Fatalf("no case %q", name)
	}
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runCase(r, *c, s, Options{}.withDefaults())
	}()
	<-done
	return r
}

func sqliteStore(t *testing.T) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// lazyExpiry serves rows past their deadline: the bug of a store that
// relies on a purge (a sweeper, a TTL) instead of checking deadlines.
type lazyExpiry struct{ *dbstore.Store }

func (s lazyExpiry) Get(ctx context.Context, key string) (*store.Entry, error) {
	var (
		e                   store.Entry
		uid                 []byte
		created, la, id, ad int64
	)
	err := s.DB().QueryRowContext(ctx,
		"SELECT key, version, user_id, created, last_activity, idle_deadline, absolute_deadline, payload FROM sessions WHERE key = ?",
		key).Scan(&e.Key, &e.Version, &uid, &created, &la, &id, &ad, &e.Payload)
	if err != nil {
		return nil, store.ErrNotFound
	}
	e.UserID = string(uid)
	e.Created, e.LastActivity = time.UnixMilli(created), time.UnixMilli(la)
	e.IdleDeadline, e.AbsoluteDeadline = time.UnixMilli(id), time.UnixMilli(ad)
	return &e, nil
}

// resurrector turns a late save of a deleted session into a create: the
// bug that brings a logged-out session back.
type resurrector struct{ *dbstore.Store }

func (s resurrector) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	err := s.Store.Put(ctx, e, prev)
	if errors.Is(err, store.ErrNotFound) {
		return s.Store.Put(ctx, e, 0)
	}
	return err
}

// racyCAS checks the version with a read, then writes unconditionally:
// the bug of a compare-and-set that is not atomic.
type racyCAS struct{ *dbstore.Store }

func (s racyCAS) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	if err := e.Validate(prev); err != nil {
		return err
	}
	cur, err := s.Store.Get(ctx, e.Key)
	switch {
	case errors.Is(err, store.ErrNotFound) && prev == 0:
	case err != nil:
		return err
	case cur.Version != prev:
		return store.ErrConflict
	}
	time.Sleep(2 * time.Millisecond) // widen the window a real backend has anyway
	if _, err := s.Store.DB().ExecContext(ctx, "DELETE FROM sessions WHERE key = ?", e.Key); err != nil {
		return err
	}
	_, err = s.Store.CopyIn(ctx, e)
	return err
}

// TestSuiteCatchesBrokenStores proves the suite can fail: each broken
// store fails the cases aimed at its bug, and the sound store passes them.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct {
		bug   string
		wrap  func(*dbstore.Store) store.Store
		cases []string
	}{
		{"returns expired entries", func(s *dbstore.Store) store.Store { return lazyExpiry{s} },
			[]string{"expire_idle", "expire_absolute", "put_update_expired_not_recreated", "touch_missing"}},
		{"resurrects deleted entries", func(s *dbstore.Store) store.Store { return resurrector{s} },
			[]string{"put_update_deleted_not_recreated", "put_update_missing_not_recreated", "put_update_expired_not_recreated"}},
		{"loses CAS races", func(s *dbstore.Store) store.Store { return racyCAS{s} },
			[]string{"put_race_one_winner"}},
	} {
		for _, name := range tc.cases {
			t.Run(strings.ReplaceAll(tc.bug, " ", "_")+"/"+name, func(t *testing.T) {
				t.Parallel()
				if r := record(t, name, sqliteStore(t)); r.Failed() || r.Skipped() {
					t.Fatalf("sound store does not pass %s: %q", name, r.msgs)
				}
				r := record(t, name, tc.wrap(sqliteStore(t)))
				if !r.Failed() {
					t.Fatalf("%s: case %s passed a store that %s", name, name, tc.bug)
				}
				t.Logf("caught: %s", r.msgs[0])
			})
		}
	}
}

func TestCasesNamedAndDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if c.Name == "" || c.Doc == "" || strings.ContainsAny(c.Name, " /") {
			t.Errorf("case %q: needs a name without spaces or slashes and a doc line", c.Name)
		}
		if seen[c.Name] {
			t.Errorf("case %q appears twice", c.Name)
		}
		seen[c.Name] = true
	}
}

func TestNewEntryIsValid(t *testing.T) {
	e := NewEntry("u")
	if err := e.Validate(0); err != nil {
		t.Fatalf("NewEntry: %v", err)
	}
	if e.Expired(time.Now()) {
		t.Fatal("NewEntry is already expired")
	}
	if NewEntry("u").Key == e.Key {
		t.Fatal("NewEntry repeats keys")
	}
}
