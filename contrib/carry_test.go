package contrib_test

import (
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// TestCarryOver: users of the old gin-contrib store (Redis or cookie) keep
// their sessions across the switch. A read is served from the old copy; the
// first save moves it under a fresh token of ours and deletes the old copy
// (on Redis); a forged old cookie is a fresh session.
func TestCarryOver(t *testing.T) {
	cases := []struct {
		name       string
		serverSide bool
		old        func(t *testing.T, prefix string) sessions.Store
	}{
		{"redis", true, func(t *testing.T, prefix string) sessions.Store { return oldRedisStore(t, prefix) }},
		{"cookie", false, func(_ *testing.T, _ string) sessions.Store {
			st := cookie.NewStore(hashKey, blockKey)
			st.Options(sessions.Options{Path: "/", MaxAge: 3600, HttpOnly: true})
			return st
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := testserver.Prefix(t)
			old := c.old(t, prefix)
			before := counterApp(old)
			u := newClient(t, before)
			for range 3 {
				u.body("GET", "/incr")
			}
			oldCookie := u.cookies["mysession"]
			if c.serverSide && oldKeys(t, prefix) != 1 {
				t.Fatalf("old store keys = %d, want 1", oldKeys(t, prefix))
			}

			st := openSQLite(t)
			after := counterApp(newStore(t, st, keyring(t), contrib.Options{Old: old}))
			u.h = after
			// A read-only request is served from the old copy and moves nothing.
			if got := u.body("GET", "/count"); got != `{"count":2}` {
				t.Fatalf("read through the old copy: %s", got)
			}
			if u.cookies["mysession"] != oldCookie {
				t.Fatal("a read-only request changed the cookie")
			}
			// The first save moves the session: v.(int) still works.
			if got := u.body("GET", "/incr"); got != `{"count":3}` {
				t.Fatalf("first save after the switch: %s", got)
			}
			tok, err := store.ParseToken(u.cookies["mysession"])
			if err != nil {
				t.Fatalf("cookie after the move is not our token: %v", err)
			}
			if _, err := st.Get(t.Context(), tok.Key()); err != nil {
				t.Fatalf("moved session not in our store: %v", err)
			}
			if c.serverSide && oldKeys(t, prefix) != 0 {
				t.Fatal("the old copy was not deleted")
			}
			if got := u.body("GET", "/incr"); got != `{"count":4}` {
				t.Fatalf("after the move: %s", got)
			}
			if c.serverSide {
				replay := newClient(t, after)
				replay.cookies["mysession"] = oldCookie
				if got := replay.body("GET", "/count"); got != `{"count":0}` {
					t.Fatalf("the old cookie still reads the moved session: %s", got)
				}
			}
			forged := newClient(t, after)
			forged.cookies["mysession"] = "MTcwMDAwMDAwMHxmb3JnZWR8"
			if got := forged.body("GET", "/incr"); got != `{"count":0}` {
				t.Fatalf("forged old cookie: %s", got)
			}
		})
	}
}

func newOldCookieStore() sessions.Store { return cookie.NewStore(hashKey, blockKey) }
