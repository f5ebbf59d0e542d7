package redisstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
)

// A Sentinel failover while sessions are written and read every 20 ms: the
// store, built on a failover client, writes to the new master within 3 s.
// Writes that reach the old master in the switch window are lost when it
// becomes a replica, about 10 s later, when sentinel converts it, so loss
// is not asserted.
func TestSentinelFailover(t *testing.T) {
	ss := testserver.Sentinel(t)
	u := redisstore.UniversalOptions()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            ss.MasterName,
		SentinelAddrs:         ss.SentinelAddrs,
		MaxRetries:            u.MaxRetries,
		DialTimeout:           u.DialTimeout,
		DialerRetries:         u.DialerRetries,
		ReadTimeout:           u.ReadTimeout,
		WriteTimeout:          u.WriteTimeout,
		PoolTimeout:           u.PoolTimeout,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c)
	prefix := testserver.Prefix(t)

	// The URL form reaches the same master through Sentinel.
	viaURL, err := redisstore.NewFromURL("redis+sentinel://"+ss.SentinelAddrs[0]+"?master_name="+ss.MasterName,
		redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	probe := entry("u", 8)
	mustPut(t, viaURL, probe, 0)
	if _, err := s.Get(tctx(t), probe.Key); err != nil {
		t.Fatalf("entry written through the sentinel URL: %v", err)
	}
	_ = viaURL.Close()

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			e := entry("u", 64)
			err := s.Put(tctx(t), e, 0)
			if err == nil {
				_, err = s.Get(tctx(t), e.Key)
			}
			if err != nil {
				failed.Add(1)
			} else {
				ok.Add(1)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(200 * time.Millisecond)
	old, err := ss.CurrentMaster(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := ss.Failover(tctx(t)); err != nil {
		t.Fatal(err)
	}
	// Served again = a session written through the store is on the master
	// Sentinel now reports, and reads back through the store.
	for {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("store not serving from a new master 3 s after the failover (ok %d, failed %d)", ok.Load(), failed.Load())
		}
		master, err := ss.CurrentMaster(tctx(t))
		if err != nil || master == old {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		e := entry("u", 64)
		if err := s.Put(tctx(t), e, 0); err == nil {
			direct := redis.NewClient(&redis.Options{Addr: master})
			n, err := direct.Exists(tctx(t), sessionKeyName(prefix, e.Key)).Result()
			_ = direct.Close()
			if _, gerr := s.Get(tctx(t), e.Key); err == nil && n == 1 && gerr == nil {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("failover %s: writing to the new master after %v (background: %d ok, %d failed)",
		old, time.Since(start).Round(time.Millisecond), ok.Load(), failed.Load())
}
