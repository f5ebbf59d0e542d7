package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// oldName is a session key name of the earlier binary format.
func oldName(prefix, key string) string {
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		panic(err)
	}
	return prefix + "s:" + string(raw)
}

// oldBucket is an index bucket name of the earlier format.
func oldBucket(prefix, uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return fmt.Sprintf("%su:%04x", prefix, binary.BigEndian.Uint16(sum[:2])&(redisstore.IndexBuckets-1))
}

// writeOld stores e as an earlier version did: the same value under the
// binary name, and its index member in the old bucket; nothing under the
// new names.
func writeOld(t *testing.T, c redis.UniversalClient, s *redisstore.Store, prefix string, e *store.Entry) {
	t.Helper()
	ctx := tctx(t)
	mustPut(t, s, e, 0)
	name := redisstore.KeyName(prefix, e.Key)
	v, err := c.Get(ctx, name).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, oldName(prefix, e.Key), v, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, name).Err(); err != nil {
		t.Fatal(err)
	}
	if e.UserID != "" {
		if err := c.Del(ctx, redisstore.IndexKeyName(prefix, e.UserID)).Err(); err != nil {
			t.Fatal(err)
		}
		m := redis.Z{Score: float64(e.AbsoluteDeadline.Unix()), Member: redisstore.IndexMember(e.UserID, e.Key)}
		if err := c.ZAdd(ctx, oldBucket(prefix, e.UserID), m).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrateKeys(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(*testing.T) redis.UniversalClient
	}{
		{"server", func(t *testing.T) redis.UniversalClient { return newClient(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return newClusterClient(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testMigrate(t, tc.client(t)) })
	}
}

// Sessions written under the old binary names, with traffic running
// beside the migration, all end up readable and listed under the new
// names; the old names are gone; junk is left alone; a second run does
// nothing.
func testMigrate(t *testing.T, c redis.UniversalClient) {
	s := newStore(t, c)
	prefix := s.Prefix()
	ctx := tctx(t)
	var olds []*store.Entry
	for i := range 40 {
		e := entry(fmt.Sprintf("u%d", i%4), 100)
		if i%10 == 9 {
			e.UserID = "" // anonymous sessions are not indexed
		}
		writeOld(t, c, s, prefix, e)
		olds = append(olds, e)
	}
	// A session already at its new name at a newer version keeps it.
	upd := *olds[0]
	upd.Version, upd.Payload = 2, []byte("newer")
	if ok, err := s.CopyIn(ctx, &upd); !ok || err != nil {
		t.Fatalf("CopyIn = %v, %v", ok, err)
	}
	// An old-shaped key that is not a session is left alone.
	junk := oldName(prefix, store.NewToken().Key())
	if err := c.Set(ctx, junk, "not a session", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, olds[1].Key); err == nil {
		t.Fatal("an old-format session is readable before the migration")
	}

	// Traffic on other sessions while the migration runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var trafficErr error
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e := entry("u1", 50)
			if err := s.Put(context.Background(), e, 0); err != nil {
				trafficErr = err
				return
			}
			if _, err := s.Get(context.Background(), e.Key); err != nil {
				trafficErr = err
				return
			}
		}
	}()
	res, err := s.MigrateKeys(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if trafficErr != nil {
		t.Fatalf("traffic during the migration: %v", trafficErr)
	}
	if res.Moved != 40 || res.Skipped != 1 || res.Buckets != 4 {
		t.Errorf("MigrateKeys = %+v, want 40 moved, 1 skipped, 4 buckets", res)
	}
	for i, e := range olds {
		got, err := s.Get(ctx, e.Key)
		if err != nil {
			t.Fatalf("session %d after the migration: %v", i, err)
		}
		want := e.Payload
		if i == 0 {
			want = upd.Payload
		}
		if !bytes.Equal(got.Payload, want) || got.UserID != e.UserID {
			t.Errorf("session %d: payload %q user %q, want %q %q", i, got.Payload, got.UserID, want, e.UserID)
		}
		if n, _ := c.Exists(ctx, oldName(prefix, e.Key)).Result(); n != 0 {
			t.Errorf("session %d: old key still there", i)
		}
		ttl, _ := c.PTTL(ctx, redisstore.KeyName(prefix, e.Key)).Result()
		if ttl <= 0 || ttl > 2*time.Hour {
			t.Errorf("session %d: TTL %v after the migration", i, ttl)
		}
	}
	for u := range 4 {
		uid := fmt.Sprintf("u%d", u)
		list, err := s.ListUser(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range olds {
			if e.UserID == uid {
				n++
			}
		}
		found := 0
		for _, l := range list {
			for _, e := range olds {
				if l.Key == e.Key {
					found++
				}
			}
		}
		if found != n {
			t.Errorf("ListUser(%s) lists %d of its %d migrated sessions", uid, found, n)
		}
		if x, _ := c.Exists(ctx, oldBucket(prefix, uid)).Result(); x != 0 {
			t.Errorf("old bucket of %s still there", uid)
		}
	}
	if v, _ := c.Get(ctx, junk).Result(); v != "not a session" {
		t.Errorf("junk key changed to %q", v)
	}
	again, err := s.MigrateKeys(ctx)
	if err != nil || again.Moved != 0 || again.Buckets != 0 || again.Expired != 0 {
		t.Errorf("second MigrateKeys = %+v, %v; want nothing moved", again, err)
	}
}
