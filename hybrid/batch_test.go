package hybrid_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// Concurrent write-through writes are group-committed into the secondary:
// fewer transactions than writes, and every acknowledged write (creates
// and updates, on distinct and shared keys) is in the secondary when its
// call returns. On one P too, where nothing else runs while a transaction
// does: there one write in twenty at least must share a transaction (none
// did before the committer yielded).
func TestMirrorGroupCommit(t *testing.T) {
	t.Run("default", func(t *testing.T) { mirrorGroupCommit(t, 0) })
	t.Run("GOMAXPROCS=1", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		mirrorGroupCommit(t, 20)
	})
}

// mirrorGroupCommit runs the writers and, when share > 0, requires at
// least 1/share of the mirror writes to have been batched.
func mirrorGroupCommit(t *testing.T, share int) {
	sec := sqliteStore(t)
	h := newHybrid(t, redisStore(t, testserver.Redis(t), testserver.Prefix(t)), sec, hybrid.Options{})
	ctx := context.Background()
	const writers, rounds = 32, 8
	shared := fresh("")
	if err := h.Put(ctx, shared, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := fresh(fmt.Sprintf("u%d", w%4))
			if err := h.Put(ctx, e, 0); err != nil {
				t.Errorf("create: %v", err)
				return
			}
			for r := range rounds {
				if err := checkSecondary(ctx, sec, e); err != nil {
					t.Errorf("writer %d round %d: %v", w, r, err)
					return
				}
				n := successor(e, fmt.Sprintf("w%d r%d", w, r))
				if err := h.Put(ctx, n, e.Version); err != nil {
					t.Errorf("update: %v", err)
					return
				}
				e = n
				// One shared key too, by compare-and-set from its current copy.
				mu.Lock()
				cur, err := h.Get(ctx, shared.Key)
				if err == nil {
					next := successor(cur, fmt.Sprintf("shared w%d r%d", w, r))
					if err = h.Put(ctx, next, cur.Version); err == nil {
						err = checkSecondary(ctx, sec, next)
					}
				}
				mu.Unlock()
				if err != nil {
					t.Errorf("shared: %v", err)
					return
				}
			}
			if err := checkSecondary(ctx, sec, e); err != nil {
				t.Errorf("writer %d last: %v", w, err)
			}
		}()
	}
	wg.Wait()
	st := h.Status()
	t.Logf("status: %d batches carried %d mirror writes", st.MirrorBatches, st.MirrorBatched)
	if st.MirrorBatches == 0 {
		t.Errorf("no mirror write was batched (status %+v)", st)
	}
	if all := uint64(1 + writers*(2*rounds+1)); share > 0 && st.MirrorBatched*uint64(share) < all {
		t.Errorf("%d of %d mirror writes batched; want at least 1/%d", st.MirrorBatched, all, share)
	}
}

// checkSecondary: the secondary holds e's version and payload.
func checkSecondary(ctx context.Context, sec store.Store, e *store.Entry) error {
	got, err := sec.Get(ctx, e.Key)
	if err != nil {
		return fmt.Errorf("acknowledged version %d not in the secondary: %w", e.Version, err)
	}
	if got.Version != e.Version || !bytes.Equal(got.Payload, e.Payload) {
		return fmt.Errorf("secondary has version %d, acknowledged %d", got.Version, e.Version)
	}
	return nil
}
