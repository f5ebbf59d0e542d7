package redisstore_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// faultBudget is how long any call may take against a dead or frozen
// server with the package's client defaults (250 ms timeouts, no
// retries), with room for a loaded machine.
const faultBudget = 2 * time.Second

// ops are the store calls a fault must fail fast.
func ops(s *redisstore.Store, e *store.Entry) []struct {
	name string
	f    func(context.Context) error
} {
	return []struct {
		name string
		f    func(context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, e.Key); return err }},
		{"GetTouch", func(ctx context.Context) error {
			_, err := s.GetTouch(ctx, e.Key, time.Now(), time.Hour, time.Now())
			return err
		}},
		{"Put", func(ctx context.Context) error { n := e.Clone(); n.Version++; return s.Put(ctx, n, e.Version) }},
		{"Touch", func(ctx context.Context) error { return s.Touch(ctx, e.Key, time.Now(), time.Now().Add(time.Hour)) }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, e.Key) }},
		{"ListUser", func(ctx context.Context) error { _, err := s.ListUser(ctx, e.UserID); return err }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
	}
}

// failFastAll runs every op against a broken server and checks each fails
// with ErrUnavailable, with the driver's error kept, within faultBudget.
func failFastAll(t *testing.T, what string, s *redisstore.Store, e *store.Entry, cause func(error) bool) {
	t.Helper()
	for _, op := range ops(s, e) {
		start := time.Now()
		err := op.f(tctx(t))
		took := time.Since(start)
		t.Logf("%s: %s failed after %v: %v", what, op.name, took.Round(time.Millisecond), err)
		switch {
		case err == nil:
			t.Errorf("%s: %s succeeded", what, op.name)
		case !errors.Is(err, store.ErrUnavailable):
			t.Errorf("%s: %s: %v does not wrap ErrUnavailable", what, op.name, err)
		case !cause(err):
			t.Errorf("%s: %s: %v lost the driver's error", what, op.name, err)
		}
		if took > faultBudget {
			t.Errorf("%s: %s took %v, want < %v", what, op.name, took, faultBudget)
		}
	}
}

// recovers polls until the store serves a fresh session again, and
// returns how long that took.
func recovers(t *testing.T, s *redisstore.Store, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		e := entry("u", 64)
		err := s.Put(tctx(t), e, 0)
		if err == nil {
			_, err = s.Get(tctx(t), e.Key)
		}
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("store still failing %v after the server came back: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerKilledAndRestarted(t *testing.T) {
	rp := testserver.StartRedis(t)
	s, err := redisstore.NewFromURL("redis://"+rp.Addr, redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := entry("u", 64)
	mustPut(t, s, e, 0)

	rp.Kill(syscall.SIGKILL)
	failFastAll(t, "killed", s, e, func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED)
	})
	// A longer outage: enough failed dials for the pool to start failing
	// fast from its cached dial error.
	for range 50 {
		_, _ = s.Get(tctx(t), e.Key)
	}

	rp.Restart()
	took := recovers(t, s, 5*time.Second)
	t.Logf("serving again %v after the restart (same Store, same client)", took.Round(time.Millisecond))
}

func TestServerFrozen(t *testing.T) {
	rp := testserver.StartRedis(t)
	s, err := redisstore.NewFromURL("redis://"+rp.Addr, redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := entry("u", 64)
	mustPut(t, s, e, 0)

	rp.Freeze()
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			rp.Thaw()
		}
	})
	failFastAll(t, "frozen", s, e, func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
	})

	// A caller's deadline shorter than the read timeout wins
	// (ContextTimeoutEnabled).
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Get(ctx, e.Key)
	took := time.Since(start)
	t.Logf("frozen, 80 ms context: Get failed after %v: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, store.ErrUnavailable) || took > 200*time.Millisecond+faultBudget/4 {
		t.Errorf("Get with an 80 ms deadline on a frozen server: %v after %v", err, took)
	}

	rp.Thaw()
	thawed = true
	took = recovers(t, s, 5*time.Second)
	t.Logf("serving again %v after the thaw", took.Round(time.Millisecond))
}
