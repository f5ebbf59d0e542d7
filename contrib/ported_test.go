package contrib_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	sessredis "github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/internal/testserver"
)

// counterApp is gin-contrib/sessions' README app ("cookie-based" and
// "Redis" backend examples), written against the gin-contrib API only, plus
// a read-only /count and a /logout. It never changes; only the store handed
// to it does.
func counterApp(store sessions.Store) *gin.Engine {
	r := gin.New()
	r.Use(sessions.Sessions("mysession", store))
	r.GET("/incr", func(c *gin.Context) {
		session := sessions.Default(c)
		var count int
		v := session.Get("count")
		if v == nil {
			count = 0
		} else {
			count = v.(int)
			count++
		}
		session.Set("count", count)
		if err := session.Save(); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.JSON(200, gin.H{"count": count})
	})
	r.GET("/count", func(c *gin.Context) {
		v, _ := sessions.Default(c).Get("count").(int)
		c.JSON(200, gin.H{"count": v})
	})
	r.GET("/logout", func(c *gin.Context) {
		session := sessions.Default(c)
		session.Clear()
		session.Options(sessions.Options{Path: "/", MaxAge: -1})
		if err := session.Save(); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.JSON(200, gin.H{"count": nil})
	})
	return r
}

// exerciseCounter is the app's HTTP test: two browsers count on their own,
// a logout ends a session, and a copy of a logged-out cookie counts from
// zero again on server-side stores.
func exerciseCounter(t *testing.T, h http.Handler, serverSide bool) {
	t.Helper()
	alice, bob := newClient(t, h), newClient(t, h)
	for i := range 3 {
		if got, want := alice.body("GET", "/incr"), `{"count":`+strconv.Itoa(i)+`}`; got != want {
			t.Fatalf("alice incr %d: %s, want %s", i, got, want)
		}
	}
	if got := bob.body("GET", "/incr"); got != `{"count":0}` {
		t.Fatalf("bob: %s", got)
	}
	if got := alice.body("GET", "/count"); got != `{"count":2}` {
		t.Fatalf("alice count: %s", got)
	}
	kept := alice.cookies["mysession"]
	alice.body("GET", "/logout")
	if _, ok := alice.cookies["mysession"]; ok {
		t.Fatal("logout left the cookie")
	}
	if got := alice.body("GET", "/incr"); got != `{"count":0}` {
		t.Fatalf("after logout: %s", got)
	}
	if serverSide {
		replay := newClient(t, h)
		replay.cookies["mysession"] = kept
		if got := replay.body("GET", "/count"); got != `{"count":0}` {
			t.Fatalf("a logged-out cookie still reads its session: %s", got)
		}
	}
}

// TestPortedApp runs one gin-contrib app and one HTTP test before the
// switch (gin-contrib's cookie and Redis stores) and after it (the drop-in
// on Redis and on SQLite): the store construction line is all that differs.
func TestPortedApp(t *testing.T) {
	cases := []struct {
		name       string
		serverSide bool
		store      func(t *testing.T) sessions.Store
	}{
		{"before/gin-contrib cookie", false, func(t *testing.T) sessions.Store {
			return cookie.NewStore([]byte("secret"))
		}},
		{"before/gin-contrib redis", true, func(t *testing.T) sessions.Store {
			return oldRedisStore(t, testserver.Prefix(t))
		}},
		{"after/contrib redis", true, func(t *testing.T) sessions.Store {
			return newStore(t, openRedis(t), keyring(t), contrib.Options{})
		}},
		{"after/contrib sqlite", true, func(t *testing.T) sessions.Store {
			return newStore(t, openSQLite(t), keyring(t), contrib.Options{})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exerciseCounter(t, counterApp(c.store(t)), c.serverSide)
		})
	}
}

// The old app's securecookie keys.
var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// oldRedisStore is gin-contrib/sessions' Redis store (boj/redistore on
// redigo) on the test Redis, its keys under prefix.
func oldRedisStore(t testing.TB, prefix string) sessions.Store {
	t.Helper()
	addr := testserver.Redis(t)
	o := testserver.RedisOptions(t)
	return oldRedisStoreAt(t, addr, o.Username, o.Password, o.DB, prefix)
}

// oldRedisStoreAt is oldRedisStore on the redis-server at addr.
func oldRedisStoreAt(t testing.TB, addr, user, password string, db int, prefix string) sessions.Store {
	t.Helper()
	st, err := sessredis.NewStoreWithDB(4, "tcp", addr, user, password, strconv.Itoa(db), hashKey, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := sessredis.SetKeyPrefix(st, prefix+"session_"); err != nil {
		t.Fatal(err)
	}
	st.Options(sessions.Options{Path: "/", MaxAge: 3600, HttpOnly: true})
	t.Cleanup(func() {
		if rs, err := sessredis.GetRedisStore(st); err == nil {
			_ = rs.Close()
		}
	})
	return st
}

// oldKeys counts the old Redis store's keys under prefix.
func oldKeys(t *testing.T, prefix string) int {
	t.Helper()
	keys, err := testserver.RedisClient(t).Keys(context.Background(), prefix+"session_*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
