package contrib_test

import (
	"context"
	"encoding/gob"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gsessions "github.com/gorilla/sessions"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/store"
)

// point is a custom type, registered with gob as gin-contrib users do.
type point struct{ X, Y int }

// unregistered is never passed to gob.Register.
type unregistered struct{ A int }

func init() { gob.Register(point{}) }

// TestGobTypes: values come back with their Go types; a registered custom
// type works, an unregistered one is ErrEncode and saves nothing.
func TestGobTypes(t *testing.T) {
	s := newStore(t, openSQLite(t), keyring(t), contrib.Options{})
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	sess, _ := s.Get(r, name)
	sess.Values["n"] = 42
	sess.Values["p"] = point{1, 2}
	sess.Values["list"] = []string{"a", "b"}
	sess.Values[7] = "int key"
	if err := sess.Save(r, w); err != nil {
		t.Fatal(err)
	}
	r2 := request(w.Result().Cookies()[0].String())
	got, err := s.Get(r2, name)
	if err != nil || got.IsNew {
		t.Fatalf("reload: %v new=%v", err, got.IsNew)
	}
	if got.Values["n"].(int) != 42 || got.Values["p"].(point) != (point{1, 2}) ||
		got.Values["list"].([]string)[1] != "b" || got.Values[7] != "int key" {
		t.Fatalf("values = %#v", got.Values)
	}
	got.Values["bad"] = unregistered{1}
	if err := got.Save(r2, httptest.NewRecorder()); !errors.Is(err, contrib.ErrEncode) {
		t.Fatalf("unregistered type: err = %v, want ErrEncode", err)
	}
	again, _ := s.Get(request(w.Result().Cookies()[0].String()), name)
	if _, ok := again.Values["bad"]; ok || again.Values["n"] != 42 {
		t.Fatalf("a failed save changed the session: %#v", again.Values)
	}
}

// TestSaveAfterDelete: a slow request that saves after another request
// deleted the session (MaxAge -1) gets ErrGone and brings nothing back.
func TestSaveAfterDelete(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			s := newStore(t, st, keyring(t), contrib.Options{})
			c := newClient(t, app(s))
			c.body("GET", "/set/user/alice")
			cookie := name + "=" + c.cookies[name]
			changed, unchanged := request(cookie), request(cookie)
			a, _ := s.Get(changed, name)
			b, _ := s.Get(unchanged, name)
			c.body("GET", "/logout")
			a.Values["user"] = "mallory" // a Put
			for _, late := range []struct {
				r    *http.Request
				sess *gsessions.Session
			}{{changed, a}, {unchanged, b}} { // b: a Touch
				w := httptest.NewRecorder()
				if err := s.Save(late.r, w, late.sess); !errors.Is(err, contrib.ErrGone) {
					t.Fatalf("late save: err = %v, want ErrGone", err)
				}
				if ck := w.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
					t.Fatalf("late save cookies = %v, want one expired", ck)
				}
			}
			if _, err := st.Get(context.Background(), store.KeyFromToken(strings.TrimPrefix(cookie, name+"="))); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the deleted session came back: %v", err)
			}
		})
	}
}

// TestLifetime: the stored session lives MaxAge after each save, or
// IdleTimeout for a MaxAge 0 cookie, never past AbsoluteTimeout; an
// unchanged save refreshes the deadline without a new version.
func TestLifetime(t *testing.T) {
	st := openSQLite(t)
	now := store.Millis(time.Now()) // the stores judge expiry by the real clock
	clock := func() time.Time { return now }
	s := newStore(t, st, keyring(t), contrib.Options{IdleTimeout: time.Hour, AbsoluteTimeout: 3 * time.Hour, Now: clock})
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	sess, _ := s.Get(r, name)
	sess.Values["k"] = "v"
	sess.Options.MaxAge = 600
	if err := sess.Save(r, w); err != nil {
		t.Fatal(err)
	}
	token := w.Result().Cookies()[0].Value
	entry := func() *store.Entry {
		e, err := st.Get(context.Background(), store.KeyFromToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := entry()
	if want := now.Add(600 * time.Second); !e.IdleDeadline.Equal(want) || !e.AbsoluteDeadline.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("deadlines %v %v", e.IdleDeadline, e.AbsoluteDeadline)
	}
	v := e.Version
	now = now.Add(time.Minute)
	sess.Options.MaxAge = 0
	if err := sess.Save(r, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if e := entry(); e.Version != v || !e.IdleDeadline.Equal(now.Add(time.Hour)) {
		t.Fatalf("unchanged save: version %d (was %d), idle %v", e.Version, v, e.IdleDeadline)
	}
	now = now.Add(150 * time.Minute)
	sess.Values["k"] = "w"
	if err := sess.Save(r, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if e := entry(); !e.IdleDeadline.Equal(e.AbsoluteDeadline) {
		t.Fatalf("idle deadline %v past the absolute one %v", e.IdleDeadline, e.AbsoluteDeadline)
	}
}

// TestKeyRotation: a session sealed under a key that is no longer the
// active one still reads, and its next save, even an unchanged one,
// re-seals it under the active key, so the old key can leave the ring.
func TestKeyRotation(t *testing.T) {
	st := openSQLite(t)
	oldKey, newKey := store.GenerateKey(), store.GenerateKey()
	ring := func(keys ...string) *store.Keyring {
		kr, err := store.ParseKeyring(strings.Join(keys, ","))
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	c := newClient(t, app(newStore(t, st, ring(oldKey), contrib.Options{})))
	c.body("GET", "/set/user/alice")

	rotated := newStore(t, st, ring(newKey, oldKey), contrib.Options{})
	r := request(name + "=" + c.cookies[name])
	sess, err := rotated.Get(r, name)
	if err != nil || sess.Values["user"] != "alice" {
		t.Fatalf("read under the rotated ring: %v %v", err, sess.Values)
	}
	if err := sess.Save(r, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	c.h = app(newStore(t, st, ring(newKey), contrib.Options{}))
	if got := c.body("GET", "/get/user"); got != "alice" {
		t.Fatalf("after the old key left the ring: %q", got)
	}
}
