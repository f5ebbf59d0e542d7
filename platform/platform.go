package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// Key is the gin context key under which the middleware puts the request's
// current platform, a *Context:
//
//	pc := c.MustGet(platform.Key).(*platform.Context)
//
// It is set only when a logged-in session has a validated platform; use
// [From] (or [Require] in front of the handler) when that may not be so.
const Key = "platform"

// SessionKey is the session key the current platform is kept under (an
// application-level key of ginsession, encoded as a 3-element msgpack
// array). Its value is never trusted as it is: every request validates it
// through the [Loader], so a value planted by other means (a generic
// "preferences" endpoint, say) can only name a connection the user owns.
const SessionKey = "platform"

// Context is a platform connection: one of the user's accounts on a
// platform such as Mastodon or Pixelfed. A user owns several and works in
// one at a time. Handlers must treat it as read-only; each request gets its
// own copy.
type Context struct {
	//lint:ignore U1000 read by msgpack through its tag: contexts encode as a compact array
	_msgpack struct{} `msgpack:",as_array"`
	// ConnectionID is the application's id of the connection (> 0).
	ConnectionID int64 `json:"id"`
	// Name is the connection's display name ("mastodon-main").
	Name string `json:"name"`
	// Type is the platform's kind ("mastodon", "pixelfed").
	Type string `json:"type"`
}

// Errors of this package. The loader's own errors other than ErrNotFound
// are returned wrapped, so callers can tell an outage (503) from a refusal
// (403).
var (
	// ErrNotFound is what a [Loader] returns (or wraps) when the connection
	// does not exist, is not the user's, or is not active.
	ErrNotFound = errors.New("platform: connection not found")
	// ErrForbidden: Switch was asked for a connection the user may not use
	// (unknown, another user's, inactive, or an id <= 0).
	ErrForbidden = errors.New("platform: connection not allowed")
	// ErrNotLoggedIn: the operation needs a logged-in session.
	ErrNotLoggedIn = errors.New("platform: not logged in")
	// ErrNoMiddleware: the platform middleware (or the session middleware
	// before it) is not installed on the route.
	ErrNoMiddleware = errors.New("platform: middleware not installed")
)

// Loader returns the connection connectionID if it exists, belongs to
// userID and is active; [ErrNotFound] (or an error wrapping it) otherwise.
// Any other error means the source could not be asked (a database outage):
// the middleware then serves its cached copy, if any. It is supplied by the
// application and must be safe for concurrent use; ctx carries the
// request's deadline bounded by [Options.LoaderTimeout].
type Loader func(ctx context.Context, userID string, connectionID int64) (*Context, error)

// Defaults of [Options].
const (
	DefaultCacheTTL      = 30 * time.Second
	DefaultCacheSize     = 10_000
	DefaultLoaderTimeout = 2 * time.Second
)

// Options configures a [Manager]. The zero value is the safe default.
type Options struct {
	// CacheTTL is how long a validated connection is trusted before the
	// loader is asked again. Default 30 s. A stale entry is still served
	// while the loader fails.
	CacheTTL time.Duration
	// CacheSize bounds the cache, in entries (one per user and connection);
	// the least recently used entry is evicted first. Default 10,000.
	CacheSize int
	// DisableCache asks the loader on every request.
	DisableCache bool
	// LoaderTimeout bounds each loader call. Default 2 s.
	LoaderTimeout time.Duration
	// Logger receives loader outages (at most one line per 10 s, with a
	// count of the ones left out). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the cache. Default time.Now.
	Now func() time.Time
	// Session names the session whose user and platform the middleware,
	// Switch, Clear and Require use (ginsession's Config.Name). Default "":
	// the default session.
	Session string
}

func (o Options) withDefaults() Options {
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.LoaderTimeout <= 0 {
		o.LoaderTimeout = DefaultLoaderTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Manager validates and caches platform connections for the middleware,
// [Switch] and [Clear]. Safe for concurrent use.
type Manager struct {
	loader Loader
	opts   Options
	cache  *lru // nil when disabled
	// logging state of outages
	lastLog    atomic.Int64
	suppressed atomic.Int64
}

// New returns a Manager for loader. A nil loader is an error.
func New(loader Loader, opts Options) (*Manager, error) {
	if loader == nil {
		return nil, errors.New("platform: nil loader")
	}
	opts = opts.withDefaults()
	m := &Manager{loader: loader, opts: opts}
	if !opts.DisableCache {
		m.cache = newLRU(opts.CacheSize)
	}
	return m, nil
}

// Middleware is New(loader, Options{}).Middleware(). It panics on a nil
// loader, at start-up, like ginsession.New on a bad config.
func Middleware(loader Loader) gin.HandlerFunc {
	m, err := New(loader, Options{})
	if err != nil {
		panic(err)
	}
	return m.Middleware()
}

// managerKey is the gin context key of the request's *Manager.
type managerKey struct{}

// outageKey marks a request whose platform could not be validated because
// the loader failed and nothing was cached.
type outageKey struct{}

// Middleware returns the gin handler that puts the current platform on the
// context under [Key]. Install it after the session middleware.
//
// A request without the session cookie costs nothing (no store call, no
// loader call, no session created). Otherwise the session is read (the one
// read every later use of the session in the request shares); an anonymous
// session, or one without a platform, costs no loader call and no write.
// A stored platform is validated through the loader, cached for CacheTTL:
//   - valid: a copy is set under Key (and the session's copy is refreshed
//     if the loader's name or type changed);
//   - ErrNotFound (deleted, deactivated, no longer the user's): it is
//     removed from the session and the cache, and a platform_switched
//     event with an empty Detail tells other tabs that no platform is
//     selected any more;
//   - any other loader error: the cached copy is served if there is one,
//     even past its TTL; otherwise nothing is set (Require answers 503) and
//     the outage is logged. The request itself never fails for it.
func (m *Manager) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(managerKey{}, m)
		m.resolve(c)
		c.Next()
	}
}

// Invalidate drops the cached validation of one user's connection: call it
// when the application deletes or deactivates a connection, so no instance
// keeps serving it from this process's cache (other processes notice within
// CacheTTL).
func (m *Manager) Invalidate(userID string, connectionID int64) {
	if m.cache != nil {
		m.cache.remove(cacheKey{userID, connectionID})
	}
}

// InvalidateUser drops every cached connection of userID and returns how
// many there were.
func (m *Manager) InvalidateUser(userID string) int {
	if m.cache == nil {
		return 0
	}
	return m.cache.removeUser(userID)
}

// CacheLen returns the number of cached entries.
func (m *Manager) CacheLen() int {
	if m.cache == nil {
		return 0
	}
	return m.cache.len()
}

// hasCookie reports whether the request's Cookie headers mention a cookie
// named name. It does not allocate; a false positive only costs the
// session read that follows, which judges the cookie properly.
func hasCookie(r *http.Request, name string) bool {
	for _, line := range r.Header["Cookie"] {
		for i := strings.Index(line, name); i >= 0; {
			end := i + len(name)
			if (i == 0 || line[i-1] == ' ' || line[i-1] == ';') && end < len(line) && line[end] == '=' {
				return true
			}
			j := strings.Index(line[end:], name)
			if j < 0 {
				break
			}
			i = end + j
		}
	}
	return false
}

// resolve sets the request's platform, if any.
func (m *Manager) resolve(c *gin.Context) {
	s, ok := ginsession.LookupNamed(c, m.opts.Session)
	if !ok || !hasCookie(c.Request, s.Manager().CookieName()) {
		return
	}
	u, err := s.User()
	if err != nil || u.ID == "" {
		return // anonymous, or a store failure the session layer reports
	}
	stored, err := ginsession.Get[Context](s, SessionKey)
	switch {
	case errors.Is(err, ginsession.ErrNoValue):
		return
	case err != nil:
		// Undecodable: a value from an older version, or planted. Drop it.
		_ = s.Delete(SessionKey)
		return
	}
	pc, err := m.validate(c.Request.Context(), u.ID, stored.ConnectionID)
	switch {
	case err == nil:
		if pc.Name != stored.Name || pc.Type != stored.Type {
			_ = s.Set(SessionKey, pc)
		}
		c.Set(Key, pc)
	case errors.Is(err, ErrNotFound):
		_ = s.Delete(SessionKey)
		s.Emit(ginsession.EventPlatformSwitched, "")
	default:
		c.Set(outageKey{}, true)
		m.logOutage(c.Request.Context(), err, u.ID, stored.ConnectionID)
	}
}

// validate returns a fresh copy of the user's connection: from the cache
// while fresh, else from the loader; during a loader outage, from the cache
// however old. ErrNotFound means the connection is not (any more) the
// user's.
func (m *Manager) validate(ctx context.Context, userID string, id int64) (*Context, error) {
	if id <= 0 {
		return nil, ErrNotFound
	}
	k := cacheKey{userID, id}
	var cached cacheEntry
	var hit bool
	if m.cache != nil {
		cached, hit = m.cache.get(k)
		if hit && m.opts.Now().Sub(cached.fetched) < m.opts.CacheTTL {
			pc := cached.ctx
			return &pc, nil
		}
	}
	pc, err := m.load(ctx, userID, id)
	switch {
	case err == nil:
		if m.cache != nil {
			m.cache.put(k, *pc, m.opts.Now())
		}
		return pc, nil
	case errors.Is(err, ErrNotFound):
		if m.cache != nil {
			m.cache.remove(k)
		}
		return nil, err
	case hit:
		m.logOutage(ctx, err, userID, id)
		pc := cached.ctx
		return &pc, nil
	}
	return nil, err
}

// load calls the loader with a bounded context and checks its answer.
func (m *Manager) load(ctx context.Context, userID string, id int64) (*Context, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.LoaderTimeout)
	defer cancel()
	pc, err := m.loader(ctx, userID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("platform: connection %d: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("platform: loader: %w", err)
	case pc == nil:
		return nil, fmt.Errorf("platform: connection %d: loader returned nothing: %w", id, ErrNotFound)
	case pc.ConnectionID != id:
		return nil, fmt.Errorf("platform: loader returned connection %d for %d", pc.ConnectionID, id)
	}
	cp := *pc
	return &cp, nil
}

// logEvery bounds outage logging.
const logEvery = 10 * time.Second

func (m *Manager) logOutage(ctx context.Context, err error, userID string, id int64) {
	now := m.opts.Now().UnixNano()
	last := m.lastLog.Load()
	if now-last < int64(logEvery) || !m.lastLog.CompareAndSwap(last, now) {
		m.suppressed.Add(1)
		return
	}
	m.opts.Logger.WarnContext(ctx, "platform: loader failed; serving the cached connection if any",
		"err", err, "connection", id, "suppressed", m.suppressed.Swap(0))
}

// From returns the request's current platform, set by the middleware. It
// never panics.
func From(c *gin.Context) (*Context, bool) {
	v, ok := c.Get(Key)
	if !ok {
		return nil, false
	}
	pc, ok := v.(*Context)
	return pc, ok && pc != nil
}

// manager returns the request's Manager and session.
func manager(c *gin.Context) (*Manager, *ginsession.Session, error) {
	v, ok := c.Get(managerKey{})
	if !ok {
		return nil, nil, ErrNoMiddleware
	}
	m, _ := v.(*Manager)
	if m == nil {
		return nil, nil, ErrNoMiddleware
	}
	s, ok := ginsession.LookupNamed(c, m.opts.Session)
	if !ok {
		return nil, nil, ErrNoMiddleware
	}
	return m, s, nil
}

// loggedIn returns the session's user id, or ErrNotLoggedIn.
func loggedIn(s *ginsession.Session) (string, error) {
	u, err := s.User()
	if err != nil {
		return "", fmt.Errorf("platform: session: %w", err)
	}
	if u.ID == "" {
		return "", ErrNotLoggedIn
	}
	return u.ID, nil
}

// Switch makes connectionID the session's current platform. The loader is
// asked afresh (never the cache): a connection that is unknown, inactive or
// another user's is [ErrForbidden] and changes nothing. On success the
// session and the cache are updated, the platform is set under [Key] for the
// rest of the request, and, when the platform changed, a platform_switched
// event is emitted with the connection id (decimal) as its Detail.
// Errors: ErrNotLoggedIn, ErrForbidden, ErrNoMiddleware, or a wrapped
// loader or session error (an outage: answer 503).
func Switch(c *gin.Context, connectionID int64) (*Context, error) {
	m, s, err := manager(c)
	if err != nil {
		return nil, err
	}
	userID, err := loggedIn(s)
	if err != nil {
		return nil, err
	}
	if connectionID <= 0 {
		return nil, fmt.Errorf("platform: switch to %d: %w", connectionID, ErrForbidden)
	}
	k := cacheKey{userID, connectionID}
	pc, err := m.load(c.Request.Context(), userID, connectionID)
	if errors.Is(err, ErrNotFound) {
		if m.cache != nil {
			m.cache.remove(k)
		}
		return nil, fmt.Errorf("platform: switch to %d: %w", connectionID, ErrForbidden)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: switch: %w", err)
	}
	prev, _ := ginsession.Get[Context](s, SessionKey)
	if err := s.Set(SessionKey, pc); err != nil {
		return nil, fmt.Errorf("platform: switch: %w", err)
	}
	if m.cache != nil {
		m.cache.put(k, *pc, m.opts.Now())
	}
	out := *pc
	c.Set(Key, &out)
	c.Set(outageKey{}, false)
	if prev.ConnectionID != connectionID {
		s.Emit(ginsession.EventPlatformSwitched, strconv.FormatInt(connectionID, 10))
	}
	return pc, nil
}

// Clear deselects the session's platform. When one was selected it emits
// platform_switched with an empty Detail. Errors: ErrNotLoggedIn,
// ErrNoMiddleware, or a wrapped session error.
func Clear(c *gin.Context) error {
	_, s, err := manager(c)
	if err != nil {
		return err
	}
	if _, err := loggedIn(s); err != nil {
		return err
	}
	had, err := s.Has(SessionKey)
	if err != nil {
		return fmt.Errorf("platform: clear: %w", err)
	}
	c.Delete(Key)
	if !had {
		return nil
	}
	if err := s.Delete(SessionKey); err != nil {
		return fmt.Errorf("platform: clear: %w", err)
	}
	s.Emit(ginsession.EventPlatformSwitched, "")
	return nil
}

// Require returns middleware that lets a request through only with a
// logged-in session and a current platform. It answers, as JSON
// {"error": "..."}: 401 when not logged in, 409 when no platform is
// selected, 503 when the session store or the loader is down (and nothing
// was cached). Install it after Middleware.
func Require() gin.HandlerFunc {
	return func(c *gin.Context) {
		name := ""
		if v, ok := c.Get(managerKey{}); ok {
			if m, _ := v.(*Manager); m != nil {
				name = m.opts.Session
			}
		}
		s, ok := ginsession.LookupNamed(c, name)
		if !ok {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "session middleware not installed"})
			return
		}
		if _, err := loggedIn(s); err != nil {
			if errors.Is(err, ErrNotLoggedIn) {
				c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "not logged in"})
			} else {
				c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "session store unavailable"})
			}
			return
		}
		if _, ok := From(c); !ok {
			if c.GetBool(outageKey{}) {
				c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "platform connections unavailable"})
				return
			}
			c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": "no platform selected"})
			return
		}
		c.Next()
	}
}
