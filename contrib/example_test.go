package contrib_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// ourSQLiteStore opens a throw-away SQLite store for the examples; an app
// opens its database once (dbstore.Open, or storage for the
// SESSION_STORAGE modes).
func ourSQLiteStore() (store.Store, func()) {
	dir, err := os.MkdirTemp("", "contrib-example-")
	if err != nil {
		log.Fatal(err)
	}
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return st, func() { _ = st.Close(); _ = os.RemoveAll(dir) }
}

// browser sends GET path to h with the cookies earlier answers set, like a
// browser, and returns the body.
type browser struct {
	h       http.Handler
	cookies []*http.Cookie
}

func (b *browser) get(path string) string {
	req := httptest.NewRequestWithContext(context.Background(), "GET", path, nil)
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	res := httptest.NewRecorder()
	b.h.ServeHTTP(res, req)
	for _, set := range res.Result().Cookies() {
		kept := b.cookies[:0]
		for _, c := range b.cookies {
			if c.Name != set.Name {
				kept = append(kept, c)
			}
		}
		b.cookies = append(kept, set)
	}
	return strings.TrimSpace(res.Body.String())
}

// gin-contrib's README "single session" example, ported: the line building
// the store is the only change (it was cookie.NewStore([]byte("secret"))).
func Example() {
	ourStore, done := ourSQLiteStore()
	defer done()
	keyring, _ := store.ParseKeyring(store.GenerateKey()) // in an app: store.ParseKeyring(os.Getenv(store.EnvKeys))

	r := gin.New()
	store, err := contrib.NewStore(ourStore, keyring, contrib.Options{})
	if err != nil {
		log.Fatal(err)
	}
	r.Use(sessions.Sessions("mysession", store))

	r.GET("/hello", func(c *gin.Context) {
		session := sessions.Default(c)

		if session.Get("hello") != "world" {
			session.Set("hello", "world")
			session.Save()
		}

		c.JSON(200, gin.H{"hello": session.Get("hello")})
	})

	b := &browser{h: r}
	fmt.Println(b.get("/hello"))
	fmt.Println(b.get("/hello"))
	fmt.Println("cookie holds a bare token:", len(b.cookies[0].Value) == 43)
	// Output:
	// {"hello":"world"}
	// {"hello":"world"}
	// cookie holds a bare token: true
}

// gin-contrib's README "cookie-based" counter, ported: values keep their
// Go types (v.(int)) because they are gob-encoded, as before, inside the
// sealed envelope.
func Example_counter() {
	ourStore, done := ourSQLiteStore()
	defer done()
	keyring, _ := store.ParseKeyring(store.GenerateKey())

	r := gin.New()
	store, _ := contrib.NewStore(ourStore, keyring, contrib.Options{}) // was: cookie.NewStore([]byte("secret"))
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
		session.Save()
		c.JSON(200, gin.H{"count": count})
	})

	b := &browser{h: r}
	for range 3 {
		fmt.Println(b.get("/incr"))
	}
	// Output:
	// {"count":0}
	// {"count":1}
	// {"count":2}
}

// gin-contrib's README "multiple sessions" example, ported: each name has
// its own cookie and token.
func Example_many() {
	ourStore, done := ourSQLiteStore()
	defer done()
	keyring, _ := store.ParseKeyring(store.GenerateKey())

	r := gin.New()
	store, _ := contrib.NewStore(ourStore, keyring, contrib.Options{}) // was: cookie.NewStore([]byte("secret"))
	sessionNames := []string{"a", "b"}
	r.Use(sessions.SessionsMany(sessionNames, store))

	r.GET("/hello", func(c *gin.Context) {
		sessionA := sessions.DefaultMany(c, "a")
		sessionB := sessions.DefaultMany(c, "b")

		if sessionA.Get("hello") != "world!" {
			sessionA.Set("hello", "world!")
			sessionA.Save()
		}

		if sessionB.Get("hello") != "world?" {
			sessionB.Set("hello", "world?")
			sessionB.Save()
		}

		c.JSON(200, gin.H{
			"a": sessionA.Get("hello"),
			"b": sessionB.Get("hello"),
		})
	})

	b := &browser{h: r}
	fmt.Println(b.get("/hello"))
	fmt.Println(b.get("/hello"))
	fmt.Println("cookies:", len(b.cookies))
	// Output:
	// {"a":"world!","b":"world?"}
	// {"a":"world!","b":"world?"}
	// cookies: 2
}

// gin-contrib's README "Redis" example, ported: our Redis store (go-redis,
// standalone, Sentinel or Cluster) instead of redis.NewStore(10, "tcp",
// "localhost:6379", "", "", []byte("secret")). It needs a Redis server, so
// it is compiled, not run.
func Example_redis() {
	keyring, err := store.ParseKeyring(os.Getenv(store.EnvKeys))
	if err != nil {
		log.Fatal(err)
	}
	ourStore, err := redisstore.NewFromURL("redis://localhost:6379/0", redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}

	r := gin.Default()
	store, err := contrib.NewStore(ourStore, keyring, contrib.Options{})
	if err != nil {
		log.Fatal(err)
	}
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
		session.Save()
		c.JSON(200, gin.H{"count": count})
	})
	r.Run(":8000")
}

// Keeping every user logged in across the switch: hand the old store,
// built as before, to Options.Old. An old cookie is served its session, and
// the first save moves it under a token of ours and deletes the old copy.
func ExampleOptions_old() {
	ourStore, done := ourSQLiteStore()
	defer done()
	keyring, _ := store.ParseKeyring(store.GenerateKey())
	oldStore := newOldCookieStore() // e.g. redis.NewStore(10, "tcp", addr, "", "", hashKey, blockKey), as before

	counter := func(store sessions.Store) *gin.Engine {
		r := gin.New()
		r.Use(sessions.Sessions("mysession", store))
		r.GET("/incr", func(c *gin.Context) {
			session := sessions.Default(c)
			count, _ := session.Get("count").(int)
			session.Set("count", count+1)
			session.Save()
			c.JSON(200, gin.H{"count": count + 1})
		})
		return r
	}

	b := &browser{h: counter(oldStore)}
	fmt.Println("before:", b.get("/incr"), b.get("/incr"))

	store, _ := contrib.NewStore(ourStore, keyring, contrib.Options{Old: oldStore})
	b.h = counter(store)
	fmt.Println("after: ", b.get("/incr"))
	fmt.Println("cookie holds a bare token:", len(b.cookies[0].Value) == 43)
	// Output:
	// before: {"count":1} {"count":2}
	// after:  {"count":3}
	// cookie holds a bare token: true
}
