package redisstore_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// roundTrips counts calls that reach the network: each Process or
// ProcessPipeline call is one round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// count runs f and returns the round trips it made.
func (r *roundTrips) count(f func()) int64 {
	before := r.n.Load()
	f()
	return r.n.Load() - before
}

func TestRoundTrips(t *testing.T) {
	c := newClient(t)
	rt := &roundTrips{}
	c.AddHook(rt)
	s := newStore(t, c)
	ctx := tctx(t)
	now := time.Now()

	// Warm the script cache: the first run of each script after a server
	// start costs one more round trip (EVALSHA, NOSCRIPT, EVAL).
	warm := entry("1", 32)
	mustPut(t, s, warm, 0)
	_, _ = s.GetTouch(ctx, warm.Key, now, time.Hour, now.Add(time.Hour))
	_ = s.Touch(ctx, warm.Key, now, now.Add(time.Hour))
	_, _ = s.CopyIn(ctx, entry("1", 8))
	mustPut(t, s, entry("warm", 8), 0)
	_, _ = s.DeleteUser(ctx, "warm", "")

	e := entry("1", 191)
	steps := []struct {
		name string
		want int64
		f    func() error
	}{
		{"Put create (with index)", 1, func() error { return s.Put(ctx, e, 0) }},
		{"Get", 1, func() error { _, err := s.Get(ctx, e.Key); return err }},
		{"GetTouch, no refresh due", 1, func() error {
			_, err := s.GetTouch(ctx, e.Key, time.Now(), 2*time.Hour, e.LastActivity)
			return err
		}},
		{"GetTouch with refresh (once per touch interval)", 2, func() error {
			_, err := s.GetTouch(ctx, e.Key, time.Now(), 2*time.Hour, time.Now().Add(time.Minute))
			return err
		}},
		{"Touch", 1, func() error { return s.Touch(ctx, e.Key, time.Now(), time.Now().Add(time.Hour)) }},
		{"Put update (index untouched)", 1, func() error {
			n := e.Clone()
			n.Version = 2
			return s.Put(ctx, n, 1)
		}},
		{"Put update moving the entry to another user (reindex)", 2, func() error {
			n := e.Clone()
			n.Version, n.UserID = 3, "2"
			return s.Put(ctx, n, 2)
		}},
		{"CopyIn", 1, func() error { _, err := s.CopyIn(ctx, entry("1", 16)); return err }},
		{"Delete", 1, func() error { return s.Delete(ctx, e.Key) }},
		{"Get missing", 1, func() error {
			if _, err := s.Get(ctx, e.Key); err == nil {
				t.Error("Get after Delete found the entry")
			}
			return nil
		}},
		{"Ping", 1, func() error { return s.Ping(ctx) }},
		{"Get with a malformed key", 0, func() error { _, _ = s.Get(ctx, "nope"); return nil }},
	}
	for _, st := range steps {
		var err error
		got := rt.count(func() { err = st.f() })
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Logf("%-28s %d round trip(s)", st.name, got)
		if got != st.want {
			t.Errorf("%s: %d round trips, want %d", st.name, got, st.want)
		}
	}

	// Listing and revoking: index read, one pipeline over the entries, one
	// index cleanup.
	for range 3 {
		mustPut(t, s, entry("2", 32), 0)
	}
	gone := entry("2", 32)
	mustPut(t, s, gone, 0)
	if err := s.Delete(ctx, gone.Key); err != nil {
		t.Fatal(err)
	}
	var list []*store.Entry
	var err error
	if n := rt.count(func() { list, err = s.ListUser(ctx, "2") }); err != nil || n > 3 || len(list) != 3 {
		t.Errorf("ListUser: %d round trips, %d entries, %v; want <= 3, 3, nil", n, len(list), err)
	} else {
		t.Logf("%-28s %d round trip(s)", "ListUser (one dead member)", n)
	}
	var deleted int
	if n := rt.count(func() { deleted, err = s.DeleteUser(ctx, "2", "") }); err != nil || n > 3 || deleted != 3 {
		t.Errorf("DeleteUser: %d round trips, %d deleted, %v; want <= 3, 3, nil", n, deleted, err)
	} else {
		t.Logf("%-28s %d round trip(s)", "DeleteUser", n)
	}
}

// After a SCRIPT FLUSH (or a server restart) the scripts load again by
// themselves, in pipelines too.
func TestScriptCacheFlushed(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c)
	ctx := tctx(t)
	e := entry("1", 32)
	mustPut(t, s, e, 0)
	for i, step := range []func() error{
		func() error { n := e.Clone(); n.Version = 2; return s.Put(ctx, n, 1) },
		func() error { return s.Touch(ctx, e.Key, time.Now(), time.Now().Add(time.Hour)) },
		func() error {
			_, err := s.GetTouch(ctx, e.Key, time.Now(), time.Hour, time.Now().Add(time.Hour))
			return err
		},
		func() error { _, err := s.CopyIn(ctx, entry("1", 8)); return err },
		func() error {
			n, err := s.DeleteUser(ctx, "1", "")
			if err == nil && n != 2 {
				t.Errorf("DeleteUser after SCRIPT FLUSH deleted %d, want 2", n)
			}
			return err
		},
	} {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Errorf("step %d after SCRIPT FLUSH: %v", i, err)
		}
	}
}
