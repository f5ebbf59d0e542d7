package redisstore_test

import (
	"crypto/rand"
	"testing"
	"time"

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
	for k, v := range map[string]any{
		"username": "alice", "role": "admin", "platform_connection_id": 1,
		"platform_name": "mastodon-main", "platform_type": "mastodon",
		"csrf_token": store.NewToken().String(),
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
// USAGE under the default prefix, after a Put and after a refresh rewrote
// it in Lua.
func TestMemoryUsage(t *testing.T) {
	c := newClient(t)
	// The default prefix is what the figure is about; the random keys keep
	// the test isolated from others.
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	now := time.Now()
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          1,
		UserID:           "1",
		Created:          now.Add(-time.Hour),
		LastActivity:     now,
		IdleDeadline:     now.Add(2 * time.Hour),
		AbsoluteDeadline: now.Add(-time.Hour).Add(30 * 24 * time.Hour),
	}
	e.Normalize()
	e.Payload = seedPayload(t, e.Key)
	mustPut(t, s, e, 0)
	redisKey := redisstore.DefaultPrefix + "session:" + e.Key
	t.Cleanup(func() {
		_ = c.Del(tctx(t), redisKey, userIndexKey(redisstore.DefaultPrefix, "1")).Err()
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
		t.Logf("%s: MEMORY USAGE %d bytes (value %d bytes: payload %d + header and user id %d; key %d bytes)",
			when, usage, len(raw), len(e.Payload), len(raw)-len(e.Payload), len(redisKey))
		if usage > 360 {
			t.Errorf("%s: MEMORY USAGE %d bytes, want <= 360", when, usage)
		}
	}
	measure("after Put")
	later := time.Now().Add(90 * time.Minute)
	if _, err := s.GetTouch(ctx, e.Key, later, 2*time.Hour, later); err != nil {
		t.Fatal(err)
	}
	measure("after GetTouch rewrote it")
}
