package contrib_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

const name = "mysession"

// app is a gin-contrib app: /set/:k/:v, /get/:k, /del/:k, /logout
// (MaxAge -1), all through the gin-contrib API only.
func app(st sessions.Store) *gin.Engine {
	r := gin.New()
	r.Use(sessions.Sessions(name, st))
	r.GET("/set/:k/:v", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set(c.Param("k"), c.Param("v"))
		if err := s.Save(); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, store.ErrUnavailable) {
				status = http.StatusServiceUnavailable
			}
			c.String(status, err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
	r.GET("/get/:k", func(c *gin.Context) {
		v, _ := sessions.Default(c).Get(c.Param("k")).(string)
		c.String(http.StatusOK, v)
	})
	r.GET("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Options(sessions.Options{Path: "/", MaxAge: -1})
		if err := s.Save(); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.String(http.StatusOK, "out")
	})
	return r
}

func TestNewStoreRefuses(t *testing.T) {
	st := openSQLite(t)
	empty, _ := store.NewKeyring()
	cases := []struct {
		name string
		st   store.Store
		kr   *store.Keyring
		opts contrib.Options
	}{
		{"nil store", nil, keyring(t), contrib.Options{}},
		{"nil keyring", st, nil, contrib.Options{}},
		{"empty keyring", st, empty, contrib.Options{}},
		{"negative idle", st, keyring(t), contrib.Options{IdleTimeout: -time.Second}},
		{"negative absolute", st, keyring(t), contrib.Options{AbsoluteTimeout: -time.Second}},
		{"negative timeout", st, keyring(t), contrib.Options{Timeout: -time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := contrib.NewStore(c.st, c.kr, c.opts); !errors.Is(err, contrib.ErrOptions) {
				t.Fatalf("err = %v, want ErrOptions", err)
			}
		})
	}
}

// TestNoSecretsAtRest: after a save, nothing Redis or SQL holds contains
// the cookie's token or the plaintext value; the store key (the token's
// SHA-256) is there, which proves the search looked in the right place.
func TestNoSecretsAtRest(t *testing.T) {
	const secret = "plaintext-value-7f3a9c"
	login := func(t *testing.T, st store.Store) (token string) {
		c := newClient(t, app(newStore(t, st, keyring(t), contrib.Options{})))
		c.body("GET", "/set/card/"+secret)
		token = c.cookies[name]
		if _, err := store.ParseToken(token); err != nil {
			t.Fatalf("cookie %q is not a bare token: %v", token, err)
		}
		if got := c.body("GET", "/get/card"); got != secret {
			t.Fatalf("read back %q", got)
		}
		return token
	}
	// Both forms of token and key are searched: text and raw bytes.
	raw := func(s string) string {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	check := func(t *testing.T, dump, token string) {
		t.Helper()
		key := store.KeyFromToken(token)
		switch {
		case strings.Contains(dump, token), strings.Contains(dump, raw(token)):
			t.Error("the raw token is stored")
		case strings.Contains(dump, secret):
			t.Error("the plaintext value is stored")
		case !strings.Contains(dump, key) && !strings.Contains(dump, raw(key)):
			t.Errorf("the store key is not in the dump: wrong place searched?\n%q", dump)
		}
	}
	t.Run("redis", func(t *testing.T) {
		prefix := testserver.Prefix(t)
		rc := testserver.RedisClient(t)
		rs, err := redisstore.New(rc, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		token := login(t, rs)
		check(t, redisDump(t, rc, prefix), token)
	})
	t.Run("sqlite", func(t *testing.T) {
		st := openSQLite(t)
		token := login(t, st)
		rows, err := st.DB().Query("SELECT * FROM sessions")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var dump strings.Builder
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&dump, "%s\n", v)
			}
		}
		check(t, dump.String(), token)
	})
}

// redisDump is every key name and value under prefix, whatever its type.
func redisDump(t *testing.T, rc *redis.Client, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := rc.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		typ, _ := rc.Type(ctx, k).Result()
		var v any
		switch typ {
		case "string":
			v, _ = rc.Get(ctx, k).Result()
		case "hash":
			v, _ = rc.HGetAll(ctx, k).Result()
		case "set":
			v, _ = rc.SMembers(ctx, k).Result()
		case "zset":
			v, _ = rc.ZRange(ctx, k, 0, -1).Result()
		case "list":
			v, _ = rc.LRange(ctx, k, 0, -1).Result()
		}
		fmt.Fprintf(&b, "%s\n", v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestConcurrentSavesMerge: requests of one session that change different
// keys at the same time all keep their change (gin-contrib's stores keep
// only the last save).
func TestConcurrentSavesMerge(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := newStore(t, b.open(t), keyring(t), contrib.Options{})
			h := app(s)
			c := newClient(t, h)
			c.body("GET", "/set/base/0")
			cookie := name + "=" + c.cookies[name]

			// Interleaved by hand: both read, then both save.
			r1 := request(cookie)
			r2 := request(cookie)
			s1, err1 := s.Get(r1, name)
			s2, err2 := s.Get(r2, name)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			s1.Values["a"] = "1"
			s2.Values["b"] = "2"
			delete(s2.Values, "base")
			if err := s1.Save(r1, httptest.NewRecorder()); err != nil {
				t.Fatal(err)
			}
			if err := s2.Save(r2, httptest.NewRecorder()); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"a": "1", "b": "2", "base": ""} {
				if got := c.body("GET", "/get/"+k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if s2.Values["a"] != "1" {
				t.Errorf("the merged save did not show the other request's key to its handler: %v", s2.Values)
			}

			// Really concurrent, through HTTP.
			const n = 8
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res := httptest.NewRecorder()
					req := request(cookie)
					req.URL.Path = fmt.Sprintf("/set/k%d/v%d", i, i)
					h.ServeHTTP(res, req)
					if res.Code != http.StatusOK {
						t.Errorf("save %d: %d %s", i, res.Code, res.Body)
					}
				})
			}
			wg.Wait()
			for i := range n {
				if got, want := c.body("GET", fmt.Sprintf("/get/k%d", i)), fmt.Sprintf("v%d", i); got != want {
					t.Errorf("k%d = %q, want %q: a concurrent save was lost", i, got, want)
				}
			}
		})
	}
}

func request(cookie string) *http.Request {
	r := httptest.NewRequestWithContext(context.Background(), "GET", "/", nil)
	r.Header.Set("Cookie", cookie)
	return r
}

// TestMaxAgeDeletesEntry: a save with MaxAge -1 deletes the stored entry,
// not only the cookie: a copy of the old cookie finds nothing.
func TestMaxAgeDeletesEntry(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			c := newClient(t, app(newStore(t, st, keyring(t), contrib.Options{})))
			c.body("GET", "/set/user/alice")
			token := c.cookies[name]
			if _, err := st.Get(context.Background(), store.KeyFromToken(token)); err != nil {
				t.Fatalf("stored entry: %v", err)
			}
			res := c.do("GET", "/logout")
			if ck := res.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
				t.Fatalf("logout cookies = %v, want one expired cookie", ck)
			}
			if _, err := st.Get(context.Background(), store.KeyFromToken(token)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("entry after MaxAge -1: err = %v, want ErrNotFound", err)
			}
			c.cookies[name] = token // a copy kept by an attacker
			if got := c.body("GET", "/get/user"); got != "" {
				t.Fatalf("deleted session still read: %q", got)
			}
		})
	}
}

// TestBadTokens: a forged, tampered, foreign or unknown cookie is a fresh,
// empty session (200, never 500), and a save gives it a fresh token.
func TestBadTokens(t *testing.T) {
	st := openSQLite(t)
	kr := keyring(t)
	s := newStore(t, st, kr, contrib.Options{})
	h := app(s)
	victim := newClient(t, h)
	victim.body("GET", "/set/user/alice")
	good := victim.cookies[name]

	// The same session read through a store with another key ring: its
	// envelope does not open there.
	foreign := newClient(t, app(newStore(t, st, keyring(t), contrib.Options{})))
	foreign.cookies[name] = good

	flip := []byte(good)
	flip[5] ^= 1 // still base64url, another token
	cases := map[string]string{
		"empty":           "",
		"garbage":         "not-a-token",
		"too long":        good + "A",
		"tampered":        string(flip),
		"unknown token":   store.NewToken().String(),
		"non canonical":   good[:42] + "B",
		"gin-contrib-ish": "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV9fOF9fLTRBQVFaemRISnBibWNNQ0FB",
		"huge":            strings.Repeat("A", 8000),
	}
	for label, v := range cases {
		t.Run(label, func(t *testing.T) {
			c := newClient(t, h)
			c.cookies[name] = v
			if got := c.body("GET", "/get/user"); got != "" {
				t.Fatalf("read %q from a bad cookie", got)
			}
			c.body("GET", "/set/x/y")
			if nt := c.cookies[name]; nt == v || nt == good {
				t.Fatalf("save reused the presented token")
			} else if _, err := store.ParseToken(nt); err != nil {
				t.Fatalf("new cookie %q: %v", nt, err)
			}
		})
	}
	t.Run("foreign key ring", func(t *testing.T) {
		if got := foreign.body("GET", "/get/user"); got != "" {
			t.Fatalf("read %q through a foreign key ring", got)
		}
	})
	if got := victim.body("GET", "/get/user"); got != "alice" {
		t.Fatalf("the real session was disturbed: %q", got)
	}
}

// TestOutage: with the store down, a read is an empty session and a save
// is an error wrapping store.ErrUnavailable (the app answers 503); the
// cookie is untouched, so the session is there again once the store is.
func TestOutage(t *testing.T) {
	rp := testserver.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: rp.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = rc.Close() })
	rs, err := redisstore.New(rc, redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, app(newStore(t, rs, keyring(t), contrib.Options{Timeout: time.Second})))
	c.body("GET", "/set/user/alice")
	token := c.cookies[name]
	rp.Freeze()
	res := c.do("GET", "/set/user/mallory")
	rp.Thaw()
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("save during outage: %d %s, want 503", res.Code, res.Body)
	}
	if len(res.Result().Cookies()) != 0 || c.cookies[name] != token {
		t.Fatalf("the cookie changed during the outage: %v", res.Result().Cookies())
	}
	if got := c.body("GET", "/get/user"); got != "alice" {
		t.Fatalf("after the outage: %q, want alice", got)
	}
}
