package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ginsessions "github.com/gin-contrib/sessions"
	ginredis "github.com/gin-contrib/sessions/redis"
	"github.com/gin-gonic/gin"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"

	_ "github.com/jackc/pgx/v5/stdlib" // ours-hybrid's mirror on PostgreSQL (Env.DatabaseURL)
	_ "modernc.org/sqlite"             // ours-sqlite and ours-hybrid's mirror
)

// Routes every implementation serves, with the same meaning everywhere.
const (
	// PathLogin (POST, optional ?u=N) creates the seed-shaped session:
	// user 1 "alice" (admin), platform 1 "mastodon-main" (mastodon),
	// created and last-activity times and a CSRF token. ?u=N logs in user
	// N instead (named by [Username]), so many sessions can belong to many
	// users. Answers "ok".
	PathLogin = "/login"
	// PathRead (GET) reads two values, the username and the platform
	// connection id, and answers them as "alice 1" (see [ReadBody]).
	PathRead = "/read"
	// PathWrite (POST ?v=N) writes one value, last_seen = N. Answers "ok".
	PathWrite = "/write"
	// PathSwitch (POST ?p=N) switches platform: writes the three platform
	// fields for platform N (1 or 2). Answers "ok".
	PathSwitch = "/switch"
	// PathUntouched (GET) never touches the session. Answers "ok".
	PathUntouched = "/untouched"
	// PathDump (GET) answers the whole session as a [Seed] in JSON, for
	// the correctness checks; it is never timed.
	PathDump = "/dump"
)

// The seed session's values (the original plan's session shape).
const (
	SeedUserID   = 1
	SeedUsername = "alice"
	SeedRole     = "admin"
)

// Username is the name of user id: "alice" for the seed user 1, "user<id>"
// for the others.
func Username(id int) string {
	if id == SeedUserID {
		return SeedUsername
	}
	return "user" + strconv.Itoa(id)
}

// loginUser returns the ?u= of a login request: the seed user by default.
func loginUser(c *gin.Context) int {
	if u := queryInt(c, "u"); u > 0 {
		return u
	}
	return SeedUserID
}

// Platform is one platform connection of the seed user.
type Platform struct {
	ID   int
	Name string
	Type string
}

// Platforms are the seed user's platform connections; login selects the
// first, PathSwitch?p=N selects N.
var Platforms = []Platform{{1, "mastodon-main", "mastodon"}, {2, "pixelfed-photos", "pixelfed"}}

// platform returns platform id, or the first for an unknown id.
func platform(id int) Platform {
	for _, p := range Platforms {
		if p.ID == id {
			return p
		}
	}
	return Platforms[0]
}

// Seed is a session as PathDump reports it: the nine fields of the seed
// session, plus last_seen written by PathWrite.
type Seed struct {
	UserID               int       `json:"user_id"`
	Username             string    `json:"username"`
	Role                 string    `json:"role"`
	PlatformConnectionID int       `json:"platform_connection_id"`
	PlatformName         string    `json:"platform_name"`
	PlatformType         string    `json:"platform_type"`
	CreatedAt            time.Time `json:"created_at"`
	LastActivity         time.Time `json:"last_activity"`
	CSRFToken            string    `json:"csrf_token"`
	LastSeen             int64     `json:"last_seen"`
}

// Value keys shared by the implementations that keep plain values.
const (
	kUserID     = "user_id"
	kUsername   = "username"
	kRole       = "role"
	kPlatformID = "platform_connection_id"
	kPlatName   = "platform_name"
	kPlatType   = "platform_type"
	kCreatedAt  = "created_at"
	kLastAct    = "last_activity"
	kCSRF       = "csrf_token"
	kLastSeen   = "last_seen"
)

// Implementation names, in the order of [Names].
const (
	Ours       = "ours"
	OursPlain  = "ours-plain"
	OursSQLite = "ours-sqlite"
	// OursObserved is ours with the Prometheus metrics observing the
	// manager and the store: the cost of the observation hook.
	OursObserved = "ours-observed"
	// OursHybrid is ours on Redis with an SQLite mirror (package hybrid).
	OursHybrid = "ours-hybrid"
	GinContrib = "gin-contrib"
	SCS        = "scs"
	SCSNoIdle  = "scs-noidle"
	None       = "none"
	Floor      = "floor"
)

// Names lists every implementation, ours first.
var Names = []string{Ours, OursPlain, OursSQLite, OursObserved, OursHybrid, GinContrib, SCS, SCSNoIdle, None, Floor}

// Env is what an implementation is built on.
type Env struct {
	// RedisAddr is the redis-server ("127.0.0.1:port"). Required by every
	// implementation but none and ours-sqlite.
	RedisAddr string
	// Prefix goes before each implementation's own default key prefix
	// ("vedfolnir:", "session_", "scs:session:"), to share a server with
	// other users. Empty on a dedicated server, so key sizes are the real
	// ones.
	Prefix string
	// Dir holds the SQLite file of ours-sqlite.
	Dir string
	// DatabaseURL, when set, is ours-hybrid's mirror instead of an SQLite
	// file in Dir: a postgres:// URL (any form dbstore.Open reads), so that
	// the processes of a fleet can share a database server as a fleet on
	// several hosts would. Its sessions table stays there afterwards.
	DatabaseURL string
	// Secret (32 bytes) keys ours' envelope and gin-contrib's signed
	// cookie, so that a load driver and its server processes agree.
	// Default: random.
	Secret []byte
	// PoolSize is the Redis connection pool of every client (go-redis
	// PoolSize, redigo MaxIdle). Default 10 × GOMAXPROCS, go-redis's own
	// default.
	PoolSize int
}

// App is one implementation, ready to serve the routes.
type App struct {
	// Name is the implementation's name (see [Names]).
	Name string
	// Handler serves the routes.
	Handler http.Handler
	// CookieName is the session cookie's name ("" for none and floor).
	CookieName string
	// Redis reports whether the implementation keeps sessions in Redis.
	Redis bool
	// SessionKeys returns the Redis keys that hold the session of a
	// cookie value logged in as user: the session key, and ours' index
	// bucket of the user. Nil when sessions are not in Redis.
	SessionKeys func(cookie string, user int) ([]string, error)

	// Hybrid is ours-hybrid's store (its Status counts engagements and
	// refills); nil for the others.
	Hybrid *hybrid.Store

	rt      *RoundTrips
	store   store.Store // ours' redisstore
	closers []func() error
}

// RoundTrips returns how many request/reply exchanges the implementation's
// Redis clients have made so far (see [RoundTrips]); 0 without Redis.
func (a *App) RoundTrips() int64 { return a.rt.Load() }

// Close releases the app's clients and files.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// Build builds the named implementation on env.
func Build(name string, env Env) (*App, error) {
	if len(env.Secret) == 0 {
		env.Secret = make([]byte, 32)
		_, _ = rand.Read(env.Secret)
	}
	if len(env.Secret) != 32 {
		return nil, fmt.Errorf("bench: Env.Secret must be 32 bytes, not %d", len(env.Secret))
	}
	if env.PoolSize <= 0 {
		env.PoolSize = 0 // go-redis default
	}
	gin.SetMode(gin.ReleaseMode)
	a := &App{Name: name, rt: new(RoundTrips)}
	var err error
	switch name {
	case Ours, OursPlain, OursObserved:
		err = buildOurs(a, env, name == OursPlain, name == OursObserved)
	case OursSQLite:
		err = buildOursSQLite(a, env)
	case OursHybrid:
		err = buildOursHybrid(a, env)
	case GinContrib:
		err = buildGinContrib(a, env)
	case SCS, SCSNoIdle:
		err = buildSCS(a, env, name == SCS)
	case None:
		buildNone(a)
	case Floor:
		err = buildFloor(a, env)
	default:
		return nil, fmt.Errorf("bench: unknown implementation %q (want one of %s)", name, strings.Join(Names, ", "))
	}
	if err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	return a, nil
}

// Do serves one request in-process and returns the recorder. cookie is the
// session cookie's value ("" sends none).
func (a *App) Do(method, target, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", a.CookieName+"="+cookie)
	}
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	return rec
}

// SessionCookie returns the value of the session cookie a response sets,
// or "" when it sets none (or deletes it).
func (a *App) SessionCookie(h http.Header) string {
	v := ""
	for _, line := range h.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil || ck.Name != a.CookieName {
			continue
		}
		v = ck.Value
		if ck.MaxAge < 0 {
			v = ""
		}
	}
	return v
}

// redisOptions is the go-redis configuration of the Redis-backed
// implementations: go-redis's defaults plus the counting dialer.
//
// RESP2, the protocol ours' redisstore.UniversalOptions picks (and the only
// one gin-contrib's redigo speaks), so that every go-redis client does the
// same work per reply.
func redisOptions(env Env, rt *RoundTrips) *goredis.Options {
	return &goredis.Options{Addr: env.RedisAddr, Dialer: rt.Dialer, PoolSize: env.PoolSize, Protocol: 2}
}

func newEngine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = false
	return r
}

func ok(c *gin.Context) { c.String(http.StatusOK, "ok") }

func fail(c *gin.Context, err error) { c.String(http.StatusInternalServerError, err.Error()) }

// ReadBody is PathRead's answer for a session of username on platformID.
// The implementations without sessions always answer ReadBody("alice", 1).
func ReadBody(username string, platformID int) string {
	return username + " " + strconv.Itoa(platformID)
}

func queryInt(c *gin.Context, name string) int {
	n, _ := strconv.Atoi(c.Query(name))
	return n
}

// newCSRF makes a CSRF token the size ginsession's is (16 random bytes), so
// every implementation keeps the same value.
func newCSRF() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// --- ours ---

// oursConfig is the ginsession configuration of ours: defaults (idle 2h,
// absolute 24h), with the cookie's Secure attribute dropped so that the load
// driver's cookie jars send it over plain loopback HTTP.
func oursConfig(st store.Store, kr *store.Keyring) ginsession.Config {
	return ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true}}
}

func buildOurs(a *App, env Env, plain, observed bool) error {
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	o := redisstore.UniversalOptions(env.RedisAddr)
	o.Dialer = a.rt.Dialer
	o.PoolSize = env.PoolSize
	// The fail-fast 250 ms read timeout of session traffic would turn a
	// scheduling stall of this shared benchmark machine into an error.
	// The hybrid store keeps it: there a timeout is a failover, not an
	// error, and whether a saturated server's stalls engage the fallback
	// is what its runs measure.
	if a.Name != OursHybrid {
		o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 2*time.Second, 2*time.Second, 3*time.Second
	}
	client := goredis.NewUniversalClient(o)
	a.closers = append(a.closers, client.Close)
	prefix := env.Prefix + redisstore.DefaultPrefix
	var obs store.Observer
	if observed {
		mt, err := metrics.New(prometheus.NewRegistry(), metrics.Options{Stores: []string{"redis"}})
		if err != nil {
			return err
		}
		obs = mt.Observer()
	}
	st, err := redisstore.New(client, redisstore.Options{Prefix: prefix, Observer: obs})
	if err != nil {
		return err
	}
	a.store = st
	cfg := oursConfig(st, kr)
	cfg.Observer = obs
	m, err := ginsession.NewManager(cfg)
	if err != nil {
		return err
	}
	a.Redis = true
	a.CookieName = m.CookieName()
	a.SessionKeys = func(cookie string, user int) ([]string, error) {
		if _, err := store.ParseToken(cookie); err != nil {
			return nil, err
		}
		keys := []string{redisstore.KeyName(prefix, store.KeyFromToken(cookie))}
		if !plain {
			keys = append(keys, redisstore.IndexKeyName(prefix, strconv.Itoa(user)))
		}
		return keys, nil
	}
	if plain {
		a.Handler = oursPlainRoutes(m)
	} else {
		a.Handler = oursRoutes(m)
	}
	return nil
}

func buildOursSQLite(a *App, env Env) error {
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	dir := env.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-sqlite-"); err != nil {
			return err
		}
		a.closers = append(a.closers, func() error { return os.RemoveAll(dir) })
	}
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, st.Close)
	m, err := ginsession.NewManager(oursConfig(st, kr))
	if err != nil {
		return err
	}
	a.CookieName = m.CookieName()
	a.Handler = oursRoutes(m)
	return nil
}

// buildOursHybrid is ours on Redis with an SQLite mirror (package
// hybrid, write-through): the deployment the library recommends.
func buildOursHybrid(a *App, env Env) error {
	if err := buildOurs(a, env, false, false); err != nil {
		return err
	}
	rs := a.store
	dir := env.Dir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-hybrid-"); err != nil {
			return err
		}
		a.closers = append(a.closers, func() error { return os.RemoveAll(dir) })
	}
	url := filepath.Join(dir, "mirror.db")
	if env.DatabaseURL != "" {
		url = env.DatabaseURL
	}
	db, err := dbstore.Open(context.Background(), url, dbstore.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, db.Close)
	h, err := hybrid.New(rs, db, hybrid.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, h.Close)
	a.Hybrid = h
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	m, err := ginsession.NewManager(oursConfig(h, kr))
	if err != nil {
		return err
	}
	a.Handler = oursRoutes(m)
	return nil
}

// oursRoutes uses the library as intended: Login keeps the user (id,
// username, role) and renews the CSRF token; the entry keeps the created
// and last-activity times. Only the platform fields are application values.
func oursRoutes(m *ginsession.Manager) http.Handler {
	r := newEngine()
	r.Use(m.Middleware())
	r.POST(PathLogin, func(c *gin.Context) {
		id := loginUser(c)
		u := ginsession.User{ID: strconv.Itoa(id), Username: Username(id), Role: SeedRole}
		if err := ginsession.Current(c).Login(u); err != nil {
			fail(c, err)
			return
		}
		if err := setPlatform(ginsession.Current(c), Platforms[0]); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathRead, func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		pid := ginsession.GetOr(ginsession.Current(c), kPlatformID, 0)
		c.String(http.StatusOK, ReadBody(u.Username, pid))
	})
	r.POST(PathWrite, func(c *gin.Context) {
		if err := ginsession.Current(c).Set(kLastSeen, queryInt(c, "v")); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.POST(PathSwitch, func(c *gin.Context) {
		if err := setPlatform(ginsession.Current(c), platform(queryInt(c, "p"))); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		s := ginsession.Current(c)
		u, err := s.User()
		if err != nil {
			fail(c, err)
			return
		}
		info, _, err := s.Info()
		if err != nil {
			fail(c, err)
			return
		}
		var d Seed
		d.UserID, _ = strconv.Atoi(u.ID)
		d.Username, d.Role = u.Username, u.Role
		d.CreatedAt, d.LastActivity = info.Created, info.LastActivity
		if u.ID != "" {
			d.CSRFToken, _ = s.CSRFToken()
		}
		getPlatform(s, &d)
		d.LastSeen = int64(ginsession.GetOr(s, kLastSeen, 0))
		c.JSON(http.StatusOK, d)
	})
	return r
}

// oursPlainRoutes keeps the nine seed fields as plain values, as the peers
// do: no Login, no rotation, no library-kept identity or CSRF token.
func oursPlainRoutes(m *ginsession.Manager) http.Handler {
	r := newEngine()
	r.Use(m.Middleware())
	r.POST(PathLogin, func(c *gin.Context) {
		s := ginsession.Current(c)
		now := time.Now().UTC()
		id := loginUser(c)
		for _, kv := range []struct {
			k string
			v any
		}{
			{kUserID, id}, {kUsername, Username(id)}, {kRole, SeedRole},
			{kCreatedAt, now}, {kLastAct, now}, {kCSRF, newCSRF()},
		} {
			if err := s.Set(kv.k, kv.v); err != nil {
				fail(c, err)
				return
			}
		}
		if err := setPlatform(s, Platforms[0]); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathRead, func(c *gin.Context) {
		s := ginsession.Current(c)
		name := ginsession.GetOr(s, kUsername, "")
		pid := ginsession.GetOr(s, kPlatformID, 0)
		c.String(http.StatusOK, ReadBody(name, pid))
	})
	r.POST(PathWrite, func(c *gin.Context) {
		if err := ginsession.Current(c).Set(kLastSeen, queryInt(c, "v")); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.POST(PathSwitch, func(c *gin.Context) {
		if err := setPlatform(ginsession.Current(c), platform(queryInt(c, "p"))); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		s := ginsession.Current(c)
		d := Seed{
			UserID:       ginsession.GetOr(s, kUserID, 0),
			Username:     ginsession.GetOr(s, kUsername, ""),
			Role:         ginsession.GetOr(s, kRole, ""),
			CreatedAt:    ginsession.GetOr(s, kCreatedAt, time.Time{}),
			LastActivity: ginsession.GetOr(s, kLastAct, time.Time{}),
			CSRFToken:    ginsession.GetOr(s, kCSRF, ""),
			LastSeen:     int64(ginsession.GetOr(s, kLastSeen, 0)),
		}
		getPlatform(s, &d)
		c.JSON(http.StatusOK, d)
	})
	return r
}

func setPlatform(s *ginsession.Session, p Platform) error {
	return errors.Join(s.Set(kPlatformID, p.ID), s.Set(kPlatName, p.Name), s.Set(kPlatType, p.Type))
}

func getPlatform(s *ginsession.Session, d *Seed) {
	d.PlatformConnectionID = ginsession.GetOr(s, kPlatformID, 0)
	d.PlatformName = ginsession.GetOr(s, kPlatName, "")
	d.PlatformType = ginsession.GetOr(s, kPlatType, "")
}

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

// HasSession reports whether the implementation keeps a session per
// client (false for none and floor).
func HasSession(name string) bool { return !slices.Contains([]string{None, Floor}, name) }
