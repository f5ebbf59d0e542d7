package ginsession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Environment variables read by [ConfigFromEnv]. The first six are the
// names of the original plan and work as written there.
const (
	EnvPrefix          = "REDIS_SESSION_PREFIX"      // read by the Redis store, listed here for completeness
	EnvIdleTimeout     = "REDIS_SESSION_TIMEOUT"     // seconds; Config.IdleTimeout
	EnvCookieName      = "SESSION_COOKIE_NAME"       // Config.Cookie.Name
	EnvCookieHTTPOnly  = "SESSION_COOKIE_HTTPONLY"   // true|false; false sets Config.Cookie.ScriptReadable
	EnvCookieSecure    = "SESSION_COOKIE_SECURE"     // true|false; false sets Config.Cookie.Insecure
	EnvCookieSameSite  = "SESSION_COOKIE_SAMESITE"   // Lax|Strict|None
	EnvAbsoluteTimeout = "SESSION_ABSOLUTE_TIMEOUT"  // seconds; Config.AbsoluteTimeout
	EnvCookieDomain    = "SESSION_COOKIE_DOMAIN"     // Config.Cookie.Domain
	EnvCookiePath      = "SESSION_COOKIE_PATH"       // Config.Cookie.Path
	EnvCookiePersist   = "SESSION_COOKIE_PERSISTENT" // true|false; Config.Cookie.Persistent
	EnvKeys            = store.EnvKeys               // SESSION_ENCRYPTION_KEYS; Config.Keyring
	EnvRememberLife    = "SESSION_REMEMBER_LIFETIME" // seconds; Config.RememberLifetime
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("ginsession: invalid config")

// CookieOptions are the session cookie's attributes. The zero value is the
// safe default: HttpOnly, Secure, SameSite=Lax, host-only, Path "/", a
// browser-session cookie named "__Host-session".
type CookieOptions struct {
	// Name is the cookie's name. Default "session", or "session-" plus
	// Config.Name for a named session. When the cookie is
	// Secure, has no Domain and Path "/", the name gets the "__Host-"
	// prefix (unless DisableHostPrefix), which browsers enforce: such a
	// cookie cannot be planted by a sibling subdomain or over plain HTTP.
	// Env: SESSION_COOKIE_NAME.
	Name string
	// Path defaults to "/". Env: SESSION_COOKIE_PATH.
	Path string
	// Domain is empty (host-only cookie) by default. Env:
	// SESSION_COOKIE_DOMAIN.
	Domain string
	// Insecure drops the Secure attribute, for plain-HTTP development.
	// Default false. Env: SESSION_COOKIE_SECURE=false.
	Insecure bool
	// ScriptReadable drops HttpOnly. Default false. Env:
	// SESSION_COOKIE_HTTPONLY=false.
	ScriptReadable bool
	// SameSite defaults to Lax. None requires a Secure cookie. Env:
	// SESSION_COOKIE_SAMESITE.
	SameSite http.SameSite
	// Partitioned adds the Partitioned attribute (CHIPS). Requires Secure.
	Partitioned bool
	// Persistent sends Max-Age (the time left to the absolute deadline)
	// so the cookie outlives the browser session. Default false: a
	// browser-session cookie. Env: SESSION_COOKIE_PERSISTENT.
	Persistent bool
	// DisableHostPrefix keeps Name exactly as given.
	DisableHostPrefix bool
}

// Config configures a [Manager]. The zero value of every field is a safe
// default; Store and Keyring are required.
type Config struct {
	// Name tells this session from the request's others when several
	// middlewares run on one route (an application session and an admin
	// one, with their own cookies, timeouts and stores): CurrentNamed
	// finds it, and CSRFOptions.Session checks its token. Default "": the
	// default session, the one Current returns. Two sessions of one request
	// must differ in Name and in cookie name (ErrSessionConflict). Letters,
	// digits and -_. only, as it is part of the default cookie name.
	Name string

	// Store keeps the sessions. Required.
	Store store.Store
	// Keyring seals session values. Required. Env: SESSION_ENCRYPTION_KEYS.
	Keyring *store.Keyring

	// Cookie is the session cookie's attributes.
	Cookie CookieOptions
	// TokenHeader accepts the session token in a request header, for API
	// clients (see TokenHeaderOptions). Default off; no environment
	// variable, as an API that takes bearer tokens is the code's choice.
	TokenHeader TokenHeaderOptions

	// IdleTimeout ends a session unused for this long. Default 2h. Env:
	// REDIS_SESSION_TIMEOUT (seconds).
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after it was created, however
	// active. Rotation keeps it. Default 24h. Env: SESSION_ABSOLUTE_TIMEOUT
	// (seconds).
	AbsoluteTimeout time.Duration
	// RememberLifetime is the absolute lifetime of a session logged in with
	// LoginOptions.Remember, and the most any LoginOptions.Lifetime gets.
	// Default 30 days, or AbsoluteTimeout when that is longer; it may not
	// be shorter than AbsoluteTimeout. Env: SESSION_REMEMBER_LIFETIME
	// (seconds).
	RememberLifetime time.Duration
	// TouchInterval: an unmodified session refreshes its idle deadline at
	// most this often, so reads do not each pay a store write. Default
	// IdleTimeout/20 (6 min for 2h), at most 5 min.
	TouchInterval time.Duration
	// StoreTimeout bounds each store call. Default 3s.
	StoreTimeout time.Duration
	// OnUnavailable writes the response when the session store is
	// unavailable (an error wrapping store.ErrUnavailable) while reading
	// or saving the request's session, for a new visitor and a stored
	// session alike. It runs before anything of the handler's response is
	// sent, after the middleware dropped Set-Cookie and set Retry-After and
	// Cache-Control: no-store; it should answer 503. Default [Unavailable]
	// (503, {"error":"session store unavailable"}). Any other store failure
	// is a 500 {"error":"session could not be saved"}.
	OnUnavailable http.HandlerFunc
	// RetryAfter is the Retry-After the middleware sends with an
	// unavailable store's response, in whole seconds (rounded up). Default
	// 1s.
	RetryAfter time.Duration
	// MaxConflictRetries bounds how often a save re-applies its changes on a
	// fresh copy after a concurrent writer won. Default 64.
	MaxConflictRetries int
	// Limits bounds the encoded session values (see store.Limits).
	Limits store.Limits
	// RecordDevice keeps the client IP and user agent in the session, for
	// per-user session lists. Default false: they cost bytes in every
	// session.
	RecordDevice bool

	// MaxSessionsPerUser caps a user's live sessions; 0 means no cap.
	MaxSessionsPerUser int
	// LimitPolicy applies when a login would pass MaxSessionsPerUser.
	// Default LimitEvictOldest.
	LimitPolicy LimitPolicy

	// VisitorCSRFLifetime is how long the CSRF token of a visitor without
	// a stored session stays valid: CSRFToken gives such a visitor a token
	// signed with a key derived from Keyring and bound to a cookie of this
	// lifetime (the session cookie's name plus "-csrf"), so a login form
	// costs no stored session. Default 2h.
	VisitorCSRFLifetime time.Duration

	// Fingerprint binds sessions to the client (opt-in).
	Fingerprint FingerprintOptions

	// RotateEvery rotates the token of a session this often (opt-in; 0 is
	// off). The old token keeps working for RotateGrace and leads to the new
	// one, so open tabs and in-flight requests are not logged out.
	// Privilege changes (Login, Rotate) never have a grace window.
	RotateEvery time.Duration
	// RotateGrace is how long a periodically rotated token stays valid.
	// Default 30s.
	RotateGrace time.Duration

	// OnRotate hooks run, in order, before every token rotation. Any error
	// vetoes the rotation.
	OnRotate []RotateHook
	// OnEvent consumers receive every session event, in order, on the
	// request's goroutine: consumers that do I/O must hand off to their own
	// queue (the audit writer does).
	OnEvent []EventHandler

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives errors that cannot be returned to a caller. Default
	// slog.Default().
	Logger *slog.Logger

	// Observer is told of each session load and save that calls the store
	// (store.OpLoad and store.OpSave, as store "session", or
	// "session:"+Name for a named session), and returns the
	// context the store calls run with: the tracing package makes them
	// spans, the metrics package times them. Give it to the store too
	// (redisstore, dbstore and hybrid Options.Observer) to see each store
	// call. Request log lines go through Logger's Context methods, with
	// the request's context. Default nil.
	Observer store.Observer
}

func (c Config) withDefaults() Config {
	if c.Cookie.Name == "" {
		c.Cookie.Name = "session"
		if c.Name != "" {
			c.Cookie.Name += "-" + c.Name
		}
	}
	if c.Cookie.Path == "" {
		c.Cookie.Path = "/"
	}
	if c.Cookie.SameSite == 0 || c.Cookie.SameSite == http.SameSiteDefaultMode {
		c.Cookie.SameSite = http.SameSiteLaxMode
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Hour
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = 24 * time.Hour
	}
	if c.RememberLifetime == 0 {
		c.RememberLifetime = max(30*24*time.Hour, c.AbsoluteTimeout)
	}
	if c.TouchInterval == 0 {
		c.TouchInterval = min(c.IdleTimeout/20, 5*time.Minute)
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 3 * time.Second
	}
	if c.OnUnavailable == nil {
		c.OnUnavailable = Unavailable
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.MaxConflictRetries == 0 {
		c.MaxConflictRetries = 64
	}
	if c.RotateGrace == 0 {
		c.RotateGrace = 30 * time.Second
	}
	if c.VisitorCSRFLifetime == 0 {
		c.VisitorCSRFLifetime = 2 * time.Hour
	}
	if c.Limits.MaxSize <= 0 {
		c.Limits.MaxSize = store.DefaultMaxSize
	}
	c.TokenHeader = c.TokenHeader.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if !c.Cookie.Insecure && c.Cookie.Domain == "" && c.Cookie.Path == "/" &&
		!c.Cookie.DisableHostPrefix && !strings.HasPrefix(c.Cookie.Name, hostPrefix) {
		c.Cookie.Name = hostPrefix + c.Cookie.Name
	}
	return c
}

const hostPrefix = "__Host-"

func (c Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !validName(c.Name):
		return bad("Name", "%q: letters, digits and -_. only", c.Name)
	case c.Store == nil:
		return bad("Store", "required")
	case c.Keyring == nil:
		return bad("Keyring", "required: set %s (print a value with: go run github.com/vedfolnir/sessions/cmd/sessionkeys new)", EnvKeys)
	case !validCookieName(c.Cookie.Name):
		return bad("Cookie.Name", "%q is not a valid cookie name", c.Cookie.Name)
	case c.IdleTimeout < 0:
		return bad("IdleTimeout", "must be positive")
	case c.AbsoluteTimeout < 0:
		return bad("AbsoluteTimeout", "must be positive")
	case c.RememberLifetime < c.AbsoluteTimeout:
		return bad("RememberLifetime", "must be at least AbsoluteTimeout (%s)", c.AbsoluteTimeout)
	case c.TouchInterval < 0 || c.TouchInterval > c.IdleTimeout:
		return bad("TouchInterval", "must be between 0 and IdleTimeout")
	case c.MaxSessionsPerUser < 0:
		return bad("MaxSessionsPerUser", "must be 0 (no cap) or positive")
	case c.LimitPolicy != LimitEvictOldest && c.LimitPolicy != LimitRejectNew:
		return bad("LimitPolicy", "unknown policy %d", c.LimitPolicy)
	case c.RotateEvery < 0 || c.RotateGrace < 0:
		return bad("RotateEvery", "must be positive")
	case c.RotateEvery > 0 && c.RotateEvery <= c.RotateGrace:
		return bad("RotateEvery", "must be longer than RotateGrace")
	case c.Fingerprint.IPv4PrefixBits < 0 || c.Fingerprint.IPv4PrefixBits > 32:
		return bad("Fingerprint.IPv4PrefixBits", "must be 0..32")
	case c.Fingerprint.IPv6PrefixBits < 0 || c.Fingerprint.IPv6PrefixBits > 128:
		return bad("Fingerprint.IPv6PrefixBits", "must be 0..128")
	case c.VisitorCSRFLifetime < time.Second:
		return bad("VisitorCSRFLifetime", "must be at least 1s")
	case c.StoreTimeout < 0:
		return bad("StoreTimeout", "must be positive")
	case c.MaxConflictRetries < 0:
		return bad("MaxConflictRetries", "must be positive")
	case c.Cookie.SameSite == http.SameSiteNoneMode && c.Cookie.Insecure:
		return bad("Cookie.SameSite", "None requires a Secure cookie (%s=None needs %s=true)", EnvCookieSameSite, EnvCookieSecure)
	case c.Cookie.Partitioned && c.Cookie.Insecure:
		return bad("Cookie.Partitioned", "requires a Secure cookie")
	case strings.HasPrefix(c.Cookie.Name, hostPrefix) && c.Cookie.Insecure:
		return bad("Cookie.Name", "the __Host- prefix requires a Secure cookie")
	case strings.HasPrefix(c.Cookie.Name, hostPrefix) && c.Cookie.Domain != "":
		return bad("Cookie.Name", "the __Host- prefix forbids a Domain")
	case strings.HasPrefix(c.Cookie.Name, hostPrefix) && c.Cookie.Path != "/":
		return bad("Cookie.Name", "the __Host- prefix requires Path=/")
	case strings.HasPrefix(c.Cookie.Name, "__Secure-") && c.Cookie.Insecure:
		return bad("Cookie.Name", "the __Secure- prefix requires a Secure cookie")
	case c.TokenHeader.Enabled && !validHeaderName(c.TokenHeader.Name):
		return bad("TokenHeader.Name", "%q is not a header that can carry the token", c.TokenHeader.Name)
	case !strings.HasPrefix(c.Cookie.Path, "/"):
		return bad("Cookie.Path", "must start with /")
	}
	return nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// ConfigFromEnv reads the session variables from the environment into a
// Config (Store is left for the caller to set). A present but invalid value
// is an error naming the variable; an absent one keeps the default, and so
// does an empty one (or one of spaces only), for every variable. Booleans
// take true or false, also 1/0, yes/no and on/off, in any case.
func ConfigFromEnv() (Config, error) { return ConfigFromLookup(os.LookupEnv) }

// ConfigFromLookup is ConfigFromEnv with another source of variables.
func ConfigFromLookup(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	var errs []error
	// An empty value (or only spaces) is the same as an unset one, for
	// every variable.
	get := func(name string) (string, bool) {
		v, _ := lookup(name)
		v = strings.TrimSpace(v)
		return v, v != ""
	}
	seconds := func(name string, dst *time.Duration) {
		v, ok := get(name)
		if !ok {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 10*365*24*3600 {
			errs = append(errs, fmt.Errorf("%w: %s=%q: want a whole number of seconds > 0", ErrConfig, name, v))
			return
		}
		*dst = time.Duration(n) * time.Second
	}
	boolean := func(name string, dst *bool, invert bool) {
		v, ok := get(name)
		if !ok {
			return
		}
		b, err := parseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q: want %s", ErrConfig, name, v, boolForms))
			return
		}
		*dst = b != invert
	}
	seconds(EnvIdleTimeout, &c.IdleTimeout)
	seconds(EnvAbsoluteTimeout, &c.AbsoluteTimeout)
	seconds(EnvRememberLife, &c.RememberLifetime)
	if abs := (Config{AbsoluteTimeout: c.AbsoluteTimeout}).withDefaults().AbsoluteTimeout; c.RememberLifetime > 0 && c.RememberLifetime < abs {
		errs = append(errs, fmt.Errorf("%w: %s=%d is shorter than the absolute timeout (%s, %d s)", ErrConfig, EnvRememberLife,
			int64(c.RememberLifetime/time.Second), EnvAbsoluteTimeout, int64(abs/time.Second)))
	}
	boolean(EnvCookieHTTPOnly, &c.Cookie.ScriptReadable, true)
	boolean(EnvCookieSecure, &c.Cookie.Insecure, true)
	boolean(EnvCookiePersist, &c.Cookie.Persistent, false)
	if v, ok := get(EnvCookieName); ok {
		if !validCookieName(v) {
			errs = append(errs, fmt.Errorf("%w: %s=%q: not a valid cookie name", ErrConfig, EnvCookieName, v))
		}
		c.Cookie.Name = v
	}
	if v, ok := get(EnvCookieDomain); ok {
		c.Cookie.Domain = v
	}
	if v, ok := get(EnvCookiePath); ok {
		c.Cookie.Path = v
	}
	if v, ok := get(EnvCookieSameSite); ok {
		switch strings.ToLower(v) {
		case "lax":
			c.Cookie.SameSite = http.SameSiteLaxMode
		case "strict":
			c.Cookie.SameSite = http.SameSiteStrictMode
		case "none":
			c.Cookie.SameSite = http.SameSiteNoneMode
		default:
			errs = append(errs, fmt.Errorf("%w: %s=%q: want Lax, Strict or None", ErrConfig, EnvCookieSameSite, v))
		}
	}
	if c.Cookie.SameSite == http.SameSiteNoneMode && c.Cookie.Insecure {
		errs = append(errs, fmt.Errorf("%w: %s=None needs a Secure cookie: set %s=true (or choose Lax or Strict)", ErrConfig, EnvCookieSameSite, EnvCookieSecure))
	}
	if v, ok := get(EnvKeys); ok {
		kr, err := store.ParseKeyring(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
		}
		c.Keyring = kr
	}
	return c, errors.Join(errs...)
}

// boolForms is what a boolean variable accepts, as its error says.
const boolForms = "true or false (also 1/0, yes/no, on/off; any case)"

// parseBool accepts exactly boolForms.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}
