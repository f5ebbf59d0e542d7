package hybrid_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// A process so busy that its goroutines wait longer than PrimaryTimeout
// to run makes primary calls time out while the primary is fine: those
// timeouts must not engage the fallback (which would send every session to
// the secondary and refill it afterwards). One CPU, goroutines burning it,
// and a PrimaryTimeout far below the scheduler's 10 ms time slice make the
// saturation certain; a frozen primary still engages.
func TestSaturationDoesNotEngage(t *testing.T) {
	rp := testserver.StartRedis(t)
	h := newHybrid(t, redisStore(t, rp.Addr, testserver.Prefix(t)), sqliteStore(t), hybrid.Options{
		JudgeTimeouts:  true,
		PrimaryTimeout: 2 * time.Millisecond,
		ProbeInterval:  time.Second,
	})
	ctx := context.Background()
	e := fresh("u")
	if err := h.Put(ctx, e, 0); err != nil && !errors.Is(err, store.ErrConflict) {
		// A conflict: the first attempt landed after its 2 ms, the retry
		// found it.
		t.Fatal(err)
	}
	if got, err := h.Get(ctx, e.Key); err != nil || got.Version != e.Version {
		t.Fatalf("seed: %+v, %v", got, err)
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { // burns the CPU, preempted only by the scheduler
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				_ = n * n
			}
		}()
	}
	var served, failed atomic.Int64
	t0 := time.Now()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur := e
			for !stop.Load() {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if w%2 == 0 {
					if _, err := h.Get(rctx, e.Key); err != nil {
						failed.Add(1)
					} else {
						served.Add(1)
					}
				} else if w == 1 && time.Since(t0) > 700*time.Millisecond {
					// Writes join once reads have had a timeout judged.
					n := successor(cur, "x")
					if err := h.Put(rctx, n, cur.Version); err == nil {
						cur = n
						served.Add(1)
					} else if latest, gerr := h.Get(rctx, e.Key); gerr == nil {
						cur = latest // a retried write that had landed: a conflict
					}
				}
				cancel()
			}
		}()
	}
	time.Sleep(2000 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	runtime.GOMAXPROCS(2)
	st := h.Status()
	t.Logf("served %d, failed %d; status %+v", served.Load(), failed.Load(), st)
	if st.SaturatedTimeouts == 0 {
		t.Fatalf("no primary call timed out: the test did not saturate the process")
	}
	if st.Engagements != 0 || h.Engaged() {
		t.Fatalf("saturation engaged the fallback %d times", st.Engagements)
	}

	// A primary that does not answer is still an outage.
	rp.Freeze()
	defer rp.Thaw()
	within(t, 5*time.Second, "a frozen primary engages", func() bool {
		_, _ = h.Get(ctx, e.Key)
		return h.Engaged()
	})
}
