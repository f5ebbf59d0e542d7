package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// entry returns a live entry for uid with a payload of n random bytes.
func entry(uid string, n int) *store.Entry {
	now := time.Now()
	p := make([]byte, n)
	_, _ = rand.Read(p)
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          1,
		UserID:           uid,
		Created:          now.Add(-time.Minute),
		LastActivity:     now,
		IdleDeadline:     now.Add(2 * time.Hour),
		AbsoluteDeadline: now.Add(24 * time.Hour),
		Payload:          p,
	}
	e.Normalize()
	return e
}

// tctx is a context bounded for one test step.
func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustPut(t testing.TB, s store.Store, e *store.Entry, prev uint64) {
	t.Helper()
	if err := s.Put(tctx(t), e, prev); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// namespace applies the prefix rule independently of the package: a
// prefix ending in "session:" loses it.
func namespace(prefix string) string {
	if prefix == "" {
		prefix = "vedfolnir:"
	}
	return strings.TrimSuffix(prefix, "session:")
}

// userIndexKey is the Redis key of uid's index bucket, computed
// independently of the package.
func userIndexKey(prefix, uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return fmt.Sprintf("%susers:%04x", namespace(prefix), binary.BigEndian.Uint16(sum[:2])&(redisstore.IndexBuckets-1))
}

// sessionKeyName is the Redis key of a store key, computed independently
// of the package: the namespace, "session:", the key's first 26
// characters.
func sessionKeyName(prefix, key string) string {
	return namespace(prefix) + "session:" + key[:26]
}
