package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// NewEntry returns a valid, live entry for userID ("" for an anonymous
// session): a random key (the key of a fresh [store.NewToken]), version 1,
// created a minute ago, last active now, idle deadline in 30 minutes,
// absolute deadline in 12 hours, a 64-byte random payload, all times
// normalized to milliseconds. Adjust fields before storing it.
func NewEntry(userID string) *store.Entry {
	now := time.Now()
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          1,
		UserID:           userID,
		Created:          now.Add(-time.Minute),
		LastActivity:     now,
		IdleDeadline:     now.Add(30 * time.Minute),
		AbsoluteDeadline: now.Add(12 * time.Hour),
		Payload:          randomBytes(64),
	}
	e.Normalize()
	return e
}

// next returns a copy of e at version v with a fresh payload, as a
// caller's save would produce.
func next(e *store.Entry, v uint64) *store.Entry {
	n := e.Clone()
	n.Version = v
	n.Payload = randomBytes(64)
	return n
}

// shortLived returns a new entry that dies after d by its idle deadline.
func shortLived(userID string, d time.Duration) *store.Entry {
	e := NewEntry(userID)
	e.IdleDeadline = store.Millis(time.Now().Add(d))
	return e
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ctx returns a context for one store call that cannot hang the suite.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t testing.TB, s store.Store, e *store.Entry, prev uint64) {
	t.Helper()
	if err := s.Put(ctx(t), e, prev); err != nil {
		t.Fatalf("Put(key, version %d, prev %d): %v", e.Version, prev, err)
	}
}

func get(t testing.TB, s store.Store, key string) *store.Entry {
	t.Helper()
	e, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if e == nil {
		t.Fatalf("Get returned a nil entry and a nil error")
	}
	return e
}

// wantErr fails unless err matches target with errors.Is.
func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantGone fails unless Get reports key as not found.
func wantGone(t testing.TB, s store.Store, key, why string) {
	t.Helper()
	e, err := s.Get(ctx(t), key)
	if !errors.Is(err, store.ErrNotFound) {
		if err == nil {
			t.Errorf("%s: Get returned version %d, want ErrNotFound", why, e.Version)
		} else {
			t.Errorf("%s: Get: got error %v, want ErrNotFound", why, err)
		}
	}
}

// wantLive checks that key holds want, unless the deadline has already
// passed by the time Get answered (a slow machine), when nothing can be
// concluded.
func wantLive(t testing.TB, s store.Store, want *store.Entry, why string) {
	t.Helper()
	got, err := s.Get(ctx(t), want.Key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) && !time.Now().Before(want.Deadline()) {
			t.Logf("%s: machine too slow to check liveness before the deadline", why)
			return
		}
		t.Fatalf("%s: Get: %v", why, err)
	}
	sameEntry(t, got, want, why)
}

// sameEntry compares every field of got with want at millisecond
// precision.
func sameEntry(t testing.TB, got, want *store.Entry, why string) {
	t.Helper()
	w := want.Clone()
	w.Normalize()
	var diffs []string
	check := func(field string, ok bool, g, w any) {
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	check("Key", got.Key == w.Key, got.Key, w.Key)
	check("Version", got.Version == w.Version, got.Version, w.Version)
	check("UserID", got.UserID == w.UserID, fmt.Sprintf("%q", got.UserID), fmt.Sprintf("%q", w.UserID))
	for _, f := range []struct {
		name string
		g, w time.Time
	}{
		{"Created", got.Created, w.Created},
		{"LastActivity", got.LastActivity, w.LastActivity},
		{"IdleDeadline", got.IdleDeadline, w.IdleDeadline},
		{"AbsoluteDeadline", got.AbsoluteDeadline, w.AbsoluteDeadline},
	} {
		check(f.name, f.g.Equal(f.w), f.g, f.w)
		check(f.name+" precision", f.g.Equal(store.Millis(f.g)), f.g, "whole milliseconds")
	}
	check("Payload", bytes.Equal(got.Payload, w.Payload),
		fmt.Sprintf("%d bytes %.8x…", len(got.Payload), got.Payload),
		fmt.Sprintf("%d bytes %.8x…", len(w.Payload), w.Payload))
	for _, d := range diffs {
		t.Errorf("%s: %s", why, d)
	}
}

// listKeys lists userID's entries and returns their keys in order.
func listKeys(t testing.TB, s store.UserIndex, userID string) []string {
	t.Helper()
	es, err := s.ListUser(ctx(t), userID)
	if err != nil {
		t.Fatalf("ListUser(%.40q): %v", userID, err)
	}
	keys := make([]string, len(es))
	for i, e := range es {
		if e == nil {
			t.Fatalf("ListUser(%.40q) returned a nil entry", userID)
		}
		if e.UserID != userID {
			t.Errorf("ListUser(%.40q) returned an entry of user %.40q", userID, e.UserID)
		}
		keys[i] = e.Key
	}
	return keys
}

func sameKeys(t testing.TB, got, want []string, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d entries, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: entry %d is %s, want %s", what, i, short(got[i]), short(want[i]))
		}
	}
}

func short(key string) string {
	if len(key) > 8 {
		return key[:8] + "…"
	}
	return key
}

// userIndex returns s as a UserIndex or fails: every store of this module
// must have one.
func userIndex(t testing.TB, s store.Store) store.UserIndex {
	t.Helper()
	ui, ok := s.(store.UserIndex)
	if !ok {
		t.Fatalf("%T does not implement store.UserIndex, which every store must", s)
	}
	return ui
}

// sleepUntil sleeps until d has passed plus a margin for clock rounding.
func sleepUntil(d time.Time) {
	time.Sleep(time.Until(d) + 30*time.Millisecond)
}
