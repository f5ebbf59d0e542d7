package bench

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
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

// HasSession reports whether the implementation keeps a session per
// client (false for none and floor).
func HasSession(name string) bool { return !slices.Contains([]string{None, Floor}, name) }
