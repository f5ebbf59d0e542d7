package contrib_test

import (
	"net/http"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/redis/go-redis/v9"

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

// TestCarryOverOldStoreDown: while the old Redis refuses to answer, a request with an
// old cookie cannot save (so it never replaces the old session with an
// empty one); once it answers again, the session is carried over.
func TestCarryOverOldStoreDown(t *testing.T) {
	rp := testserver.StartRedis(t)
	old := oldRedisStoreAt(t, rp.Addr, "", "", 0, "old:")
	u := newClient(t, counterApp(old))
	for range 3 {
		u.body("GET", "/incr")
	}
	oldCookie := u.cookies["mysession"]
	u.h = counterApp(newStore(t, openSQLite(t), keyring(t), contrib.Options{Old: old}))

	// The old Redis refuses the old store's commands (NOPERM) while an
	// admin connection keeps control.
	ctx := t.Context()
	boot := redis.NewClient(&redis.Options{Addr: rp.Addr})
	defer boot.Close()
	if err := boot.Do(ctx, "ACL", "SETUSER", "admin", "on", ">adminpw", "+@all", "~*").Err(); err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(&redis.Options{Addr: rp.Addr, Username: "admin", Password: "adminpw"})
	defer admin.Close()
	acl := func(rule string) {
		t.Helper()
		if err := admin.Do(ctx, "ACL", "SETUSER", "default", rule).Err(); err != nil {
			t.Fatal(err)
		}
	}
	acl("-@all")
	if res := u.do("GET", "/incr"); res.Code == http.StatusOK {
		t.Fatalf("saved while the old store was down: %s", res.Body)
	}
	if u.cookies["mysession"] != oldCookie {
		t.Fatal("the old cookie was replaced while its session could not be read")
	}
	acl("+@all")
	if got := u.body("GET", "/incr"); got != `{"count":3}` {
		t.Fatalf("after the old store came back: %s", got)
	}
}

func newOldCookieStore() sessions.Store { return cookie.NewStore(hashKey, blockKey) }
