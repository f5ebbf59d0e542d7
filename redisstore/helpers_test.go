package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

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

// userIndexKey is the Redis key of uid's index, computed independently of
// the package.
func userIndexKey(prefix, uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return prefix + "user_sessions:" + base64.RawURLEncoding.EncodeToString(sum[:])
}
