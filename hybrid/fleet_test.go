package hybrid_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
)

// deadAddr is a loopback address nothing listens on: every call to it is
// refused at once, an outage without a timeout to wait out.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Every instance announces its own lease for FleetWindow before it
// acknowledges its first secondary-only write, even when another
// instance's lease is live: that lease may have been stored a moment ago,
// and an instance that has not polled since knows of no lease at all, so
// it would serve a primary copy older than the write. Renewals of a lease
// every instance has seen do not wait.
func TestLeaseAnnouncedPerInstance(t *testing.T) {
	const window = 400 * time.Millisecond
	db := sqliteStore(t)
	dead := deadAddr(t)
	instance := func(name string) *hybrid.Store {
		ns := func(gen uint64) (store.Store, error) {
			return redisStore(t, dead, fmt.Sprintf("lease:%s:g%d:", name, gen)), nil
		}
		primary, _ := ns(1)
		return newHybrid(t, primary, db, hybrid.Options{
			Namespace: ns, FleetPollInterval: 50 * time.Millisecond, FleetWindow: window,
			ProbeInterval: time.Hour, LeaseDuration: 4 * time.Second, ClockSkew: 500 * time.Millisecond,
		})
	}
	first, second := instance("a"), instance("b")
	ctx := context.Background()
	put := func(h *hybrid.Store) time.Duration {
		t0 := time.Now()
		if err := h.Put(ctx, fresh("u"), 0); err != nil {
			t.Fatalf("put: %v", err)
		}
		return time.Since(t0)
	}
	var wg sync.WaitGroup
	var d1, d2 time.Duration
	wg.Go(func() { d1 = put(first) })
	time.Sleep(window / 4) // the first lease is stored and live
	wg.Go(func() { d2 = put(second) })
	wg.Wait()
	if !first.Engaged() || !second.Engaged() {
		t.Fatalf("engaged: %v, %v; want both (the primary refuses every call)", first.Engaged(), second.Engaged())
	}
	// A little under the window: the wait starts once the lease is stored,
	// after the failed primary call.
	for i, d := range []time.Duration{d1, d2} {
		if d < window*9/10 {
			t.Errorf("instance %d: first secondary-only write acknowledged after %v; want the lease announced for %v first", i+1, d, window)
		}
	}
	for i, h := range []*hybrid.Store{first, second} {
		if d := put(h); d >= window/2 {
			t.Errorf("instance %d: a write under its announced lease took %v; want no second wait", i+1, d)
		}
	}
}
