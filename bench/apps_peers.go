package bench

import (
	"context"
	"crypto/sha256"
	"encoding/gob"
	"net/http"
	"strings"
	"sync"
	"time"

	ginsessions "github.com/gin-contrib/sessions"
	ginredis "github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	goredis "github.com/redis/go-redis/v9"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
)

// The peers (gin-contrib/sessions, scs) and the baselines (none, floor).

// --- gin-contrib/sessions ---

var gobOnce sync.Once

// registerGob registers time.Time for gob, which both peers use to encode
// their values: without it they cannot store a time in a session.
func registerGob() { gobOnce.Do(func() { gob.Register(time.Time{}) }) }

const ginContribCookie = "session"

// buildGinContrib wires gin-contrib/sessions' redis store exactly as its
// redis.NewStore(10, "tcp", addr, "", "", key) would (redistore's pool:
// MaxIdle 10, PING on every borrow), with only the dialer swapped for the
// counting one. Cookie: HttpOnly, SameSite Lax, Max-Age 24h (the absolute
// lifetime of ours).
func buildGinContrib(a *App, env Env) error {
	registerGob()
	size := env.PoolSize
	if size == 0 {
		size = 10
	}
	pool := &redis.Pool{
		MaxIdle:     size,
		IdleTimeout: 240 * time.Second,
		TestOnBorrow: func(c redis.Conn, t time.Time) error {
			_, err := c.Do("PING")
			return err
		},
		Dial: func() (redis.Conn, error) {
			return redis.Dial("tcp", env.RedisAddr, redis.DialNetDial(a.rt.NetDial))
		},
	}
	authKey := sha256.Sum256(append([]byte("gin-contrib auth\x00"), env.Secret...))
	st, err := ginredis.NewStoreWithPool(pool, authKey[:])
	if err != nil {
		_ = pool.Close()
		return err
	}
	a.closers = append(a.closers, pool.Close)
	prefix := env.Prefix + "session_"
	if err := ginredis.SetKeyPrefix(st, prefix); err != nil {
		return err
	}
	st.Options(ginsessions.Options{Path: "/", MaxAge: 86400, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	codecs := securecookie.CodecsFromPairs(authKey[:])
	a.Redis = true
	a.CookieName = ginContribCookie
	a.SessionKeys = func(cookie string, _ int) ([]string, error) {
		var id string
		if err := securecookie.DecodeMulti(ginContribCookie, cookie, &id, codecs...); err != nil {
			return nil, err
		}
		return []string{prefix + id}, nil
	}

	r := newEngine()
	r.Use(ginsessions.Sessions(ginContribCookie, st))
	save := func(c *gin.Context, s ginsessions.Session) {
		if err := s.Save(); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	}
	r.POST(PathLogin, func(c *gin.Context) {
		s := ginsessions.Default(c)
		now := time.Now().UTC()
		p := Platforms[0]
		id := loginUser(c)
		s.Set(kUserID, id)
		s.Set(kUsername, Username(id))
		s.Set(kRole, SeedRole)
		s.Set(kPlatformID, p.ID)
		s.Set(kPlatName, p.Name)
		s.Set(kPlatType, p.Type)
		s.Set(kCreatedAt, now)
		s.Set(kLastAct, now)
		s.Set(kCSRF, newCSRF())
		save(c, s)
	})
	r.GET(PathRead, func(c *gin.Context) {
		s := ginsessions.Default(c)
		name, _ := s.Get(kUsername).(string)
		pid, _ := s.Get(kPlatformID).(int)
		c.String(http.StatusOK, ReadBody(name, pid))
	})
	r.POST(PathWrite, func(c *gin.Context) {
		s := ginsessions.Default(c)
		s.Set(kLastSeen, queryInt(c, "v"))
		save(c, s)
	})
	r.POST(PathSwitch, func(c *gin.Context) {
		s := ginsessions.Default(c)
		p := platform(queryInt(c, "p"))
		s.Set(kPlatformID, p.ID)
		s.Set(kPlatName, p.Name)
		s.Set(kPlatType, p.Type)
		save(c, s)
	})
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		s := ginsessions.Default(c)
		var d Seed
		d.UserID, _ = s.Get(kUserID).(int)
		d.Username, _ = s.Get(kUsername).(string)
		d.Role, _ = s.Get(kRole).(string)
		d.PlatformConnectionID, _ = s.Get(kPlatformID).(int)
		d.PlatformName, _ = s.Get(kPlatName).(string)
		d.PlatformType, _ = s.Get(kPlatType).(string)
		d.CreatedAt, _ = s.Get(kCreatedAt).(time.Time)
		d.LastActivity, _ = s.Get(kLastAct).(time.Time)
		d.CSRFToken, _ = s.Get(kCSRF).(string)
		lastSeen, _ := s.Get(kLastSeen).(int)
		d.LastSeen = int64(lastSeen)
		c.JSON(http.StatusOK, d)
	})
	a.Handler = r
	return nil
}

// --- scs ---

// buildSCS wires scs around the Gin engine: LoadAndSave wraps an
// http.Handler, so it wraps the whole engine, and handlers reach the
// session through c.Request.Context(). scs commits and sets its cookie in
// its own response writer, at the first WriteHeader or Write (which Gin
// makes before the body), or after the engine returns when nothing was
// written. Lifetime 24h as ours; idle says whether IdleTimeout is 2h as
// ours (then every request that loads a session writes it back) or unset
// (scs's default). Login calls RenewToken, as scs documents for logins.
func buildSCS(a *App, env Env, idle bool) error {
	registerGob()
	client := goredis.NewClient(redisOptions(env, a.rt))
	a.closers = append(a.closers, client.Close)
	prefix := env.Prefix + "scs:session:"
	sm := scs.New()
	sm.Store = goredisstore.NewWithPrefix(client, prefix)
	sm.Lifetime = 24 * time.Hour
	if idle {
		sm.IdleTimeout = 2 * time.Hour
	}
	sm.Cookie.Name = "session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = false
	a.Redis = true
	a.CookieName = sm.Cookie.Name
	a.SessionKeys = func(cookie string, _ int) ([]string, error) { return []string{prefix + cookie}, nil }

	r := newEngine()
	r.POST(PathLogin, func(c *gin.Context) {
		ctx := c.Request.Context()
		if err := sm.RenewToken(ctx); err != nil {
			fail(c, err)
			return
		}
		now := time.Now().UTC()
		p := Platforms[0]
		id := loginUser(c)
		sm.Put(ctx, kUserID, id)
		sm.Put(ctx, kUsername, Username(id))
		sm.Put(ctx, kRole, SeedRole)
		sm.Put(ctx, kPlatformID, p.ID)
		sm.Put(ctx, kPlatName, p.Name)
		sm.Put(ctx, kPlatType, p.Type)
		sm.Put(ctx, kCreatedAt, now)
		sm.Put(ctx, kLastAct, now)
		sm.Put(ctx, kCSRF, newCSRF())
		ok(c)
	})
	r.GET(PathRead, func(c *gin.Context) {
		ctx := c.Request.Context()
		c.String(http.StatusOK, ReadBody(sm.GetString(ctx, kUsername), sm.GetInt(ctx, kPlatformID)))
	})
	r.POST(PathWrite, func(c *gin.Context) {
		sm.Put(c.Request.Context(), kLastSeen, queryInt(c, "v"))
		ok(c)
	})
	r.POST(PathSwitch, func(c *gin.Context) {
		ctx := c.Request.Context()
		p := platform(queryInt(c, "p"))
		sm.Put(ctx, kPlatformID, p.ID)
		sm.Put(ctx, kPlatName, p.Name)
		sm.Put(ctx, kPlatType, p.Type)
		ok(c)
	})
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		ctx := c.Request.Context()
		c.JSON(http.StatusOK, Seed{
			UserID: sm.GetInt(ctx, kUserID), Username: sm.GetString(ctx, kUsername), Role: sm.GetString(ctx, kRole),
			PlatformConnectionID: sm.GetInt(ctx, kPlatformID), PlatformName: sm.GetString(ctx, kPlatName),
			PlatformType: sm.GetString(ctx, kPlatType), CreatedAt: sm.GetTime(ctx, kCreatedAt),
			LastActivity: sm.GetTime(ctx, kLastAct), CSRFToken: sm.GetString(ctx, kCSRF),
			LastSeen: int64(sm.GetInt(ctx, kLastSeen)),
		})
	})
	a.Handler = sm.LoadAndSave(r)
	return nil
}

// --- none and floor ---

// buildNone serves the routes with no session at all: constant answers.
func buildNone(a *App) {
	r := newEngine()
	r.POST(PathLogin, ok)
	r.GET(PathRead, func(c *gin.Context) { c.String(http.StatusOK, ReadBody(SeedUsername, Platforms[0].ID)) })
	r.POST(PathWrite, ok)
	r.POST(PathSwitch, ok)
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) { c.JSON(http.StatusOK, Seed{}) })
	a.Handler = r
}

// FloorKey is the one key the floor reads and writes, under Env.Prefix.
const FloorKey = "floor:session"

// floorValue is what the floor keeps under its key: a session-sized value.
var floorValue = strings.Repeat("s", 200)

// buildFloor is the cheapest possible Redis-backed session: no cookie, no
// decoding, one go-redis command of a fixed key per request that uses the
// session: GET to read, SET to write (and to log in).
func buildFloor(a *App, env Env) error {
	client := goredis.NewClient(redisOptions(env, a.rt))
	a.closers = append(a.closers, client.Close)
	key := env.Prefix + FloorKey
	ctx := context.Background()
	if err := client.Set(ctx, key, floorValue, 0).Err(); err != nil {
		return err
	}
	a.Redis = true
	a.SessionKeys = func(string, int) ([]string, error) { return []string{key}, nil }
	set := func(c *gin.Context) {
		if err := client.Set(c.Request.Context(), key, floorValue, 0).Err(); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	}
	r := newEngine()
	r.POST(PathLogin, set)
	r.GET(PathRead, func(c *gin.Context) {
		if err := client.Get(c.Request.Context(), key).Err(); err != nil {
			fail(c, err)
			return
		}
		c.String(http.StatusOK, ReadBody(SeedUsername, Platforms[0].ID))
	})
	r.POST(PathWrite, set)
	r.POST(PathSwitch, set)
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) { c.JSON(http.StatusOK, Seed{}) })
	a.Handler = r
	return nil
}
