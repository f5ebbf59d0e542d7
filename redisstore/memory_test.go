package redisstore_test

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// seedPayload seals the seed session's payload as the session layer keeps
// it: one msgpack value per key in a record, sealed by the envelope. The
// user id, creation and last activity times of the seed's session dict are
// the entry's own fields, so they are not repeated in the payload.
func seedPayload(t testing.TB, key string) []byte {
	t.Helper()
	vals := map[string][]byte{}
	var csrf [16]byte
	_, _ = rand.Read(csrf[:])
	for k, v := range map[string]any{
		"username": "alice", "role": "admin", "platform_connection_id": 1,
		"platform_name": "mastodon-main", "platform_type": "mastodon",
		"csrf_token": csrf[:],
	} {
		raw, err := store.EncodeValue(v, store.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		vals[k] = raw
	}
	rec, err := store.EncodeRecord(vals, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, store.KeySize)
	_, _ = rand.Read(k)
	ring, err := store.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ring.Seal(key, 's', rec)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// The seed-shaped session (user id "1", two-hour idle timeout, 30-day
// absolute lifetime, an hour old) must take at most 360 bytes by MEMORY
// USAGE under the default prefix, its share of its index bucket included,
// after a Put and after a refresh rewrote it in Lua. The share is measured
// in a bucket of 30 members, about what 8,192 buckets hold at 250,000
// sessions.
func TestMemoryUsage(t *testing.T) {
	c := newClient(t)
	// The default prefix is what the figure is about.
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	now := time.Now()
	const uid = "1"
	bucket := userIndexKey(redisstore.DefaultPrefix, uid)
	before, _ := c.MemoryUsage(ctx, bucket).Result() // 0 when missing
	const members = 30
	var e *store.Entry
	var names []string
	for range members {
		e = &store.Entry{
			Key:              store.NewToken().Key(),
			Version:          1,
			UserID:           uid,
			Created:          now.Add(-time.Hour),
			LastActivity:     now,
			IdleDeadline:     now.Add(2 * time.Hour),
			AbsoluteDeadline: now.Add(-time.Hour).Add(30 * 24 * time.Hour),
		}
		e.Normalize()
		e.Payload = seedPayload(t, e.Key)
		mustPut(t, s, e, 0)
		names = append(names, sessionKeyName(redisstore.DefaultPrefix, e.Key))
	}
	redisKey := names[len(names)-1]
	t.Cleanup(func() {
		_ = c.Del(tctx(t), names...).Err()
		if before == 0 {
			_ = c.Del(tctx(t), bucket).Err()
		}
	})
	measure := func(when string) {
		t.Helper()
		raw, err := c.Get(ctx, redisKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		usage, err := c.MemoryUsage(ctx, redisKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		idx, err := c.MemoryUsage(ctx, bucket).Result()
		if err != nil {
			t.Fatal(err)
		}
		share := (idx - before) / members
		t.Logf("%s: MEMORY USAGE %d bytes + index share %d = %d (value %d bytes: payload %d + header and user id %d; key %d bytes; bucket %d bytes for %d members)",
			when, usage, share, usage+share, len(raw), len(e.Payload), len(raw)-len(e.Payload), len(redisKey), idx, members)
		if usage+share > 360 {
			t.Errorf("%s: MEMORY USAGE %d + %d bytes, want <= 360", when, usage, share)
		}
	}
	measure("after Put")
	later := time.Now().Add(90 * time.Minute)
	if _, err := s.GetTouch(ctx, e.Key, later, 2*time.Hour, later); err != nil {
		t.Fatal(err)
	}
	measure("after GetTouch rewrote it")
}

// With REDISSTORE_MEMORY_SESSIONS=n (250000 for the documented figure),
// n seed-shaped sessions of n/8 users under the default prefix, written
// into a private redis-server, must keep used_memory within 400 bytes per
// session over the empty server (under 100 MB at 250,000). Skipped
// otherwise: it takes about a minute on two cores.
func TestUsedMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("REDISSTORE_MEMORY_SESSIONS"))
	if n <= 0 {
		t.Skip("set REDISSTORE_MEMORY_SESSIONS=250000 to measure used_memory")
	}
	rp := testserver.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rp.Addr})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	used := func() int64 {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				return x
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	empty := used()
	payload := seedPayload(t, store.NewToken().Key()) // one payload's size is what counts
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				e := &store.Entry{
					Key: store.NewToken().Key(), Version: 1, UserID: strconv.Itoa(i%(n/8+1) + 1),
					Created: now.Add(-time.Hour), LastActivity: now, IdleDeadline: now.Add(2 * time.Hour),
					AbsoluteDeadline: now.Add(-time.Hour).Add(30 * 24 * time.Hour), Payload: payload,
				}
				e.Normalize()
				if err := s.Put(ctx, e, 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := used() - empty
	t.Logf("%d sessions: used_memory %d bytes over the empty server (%.1f MB), %d bytes per session", n, total, float64(total)/1e6, total/int64(n))
	if total/int64(n) > 400 {
		t.Errorf("%d bytes per session, want <= 400", total/int64(n))
	}
}
