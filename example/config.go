package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/storage"
)

// Environment variables of the example itself. The library's own
// (REDIS_URL, SESSION_STORAGE, SESSION_COOKIE_*, ...) are read as the
// library documents them.
const (
	envAddr        = "EXAMPLE_ADDR"       // listen address; default 127.0.0.1:8080
	envAdminAddr   = "EXAMPLE_ADMIN_ADDR" // operator listener (/healthz, /metrics); default 127.0.0.1:8081
	envDataDir     = "EXAMPLE_DATA_DIR"   // SQLite file and generated key; default under os.UserCacheDir
	envRedisURL    = "REDIS_URL"
	envDatabaseURL = "DATABASE_URL"
	envStorage     = "SESSION_STORAGE" // redis | database | hybrid
	envKeys        = "SESSION_ENCRYPTION_KEYS"
)

const (
	defaultAddr      = "127.0.0.1:8080"
	defaultAdminAddr = "127.0.0.1:8081"
)

// Timeouts of the example's HTTP servers. The event stream lifts the read
// and write deadlines for itself (ginsession/live).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 15 * time.Second // the whole request, body included
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// defaultDataDirPath is the user's cache directory plus
// "vedfolnir-sessions-example" (~/.cache/... on Linux), or
// ./.example-data when the system names no cache directory.
func defaultDataDirPath() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vedfolnir-sessions-example")
	}
	return ".example-data"
}

// Storage modes of SESSION_STORAGE.
const (
	modeRedis    = string(storage.ModeRedis)
	modeDatabase = string(storage.ModeDatabase)
	modeHybrid   = string(storage.ModeHybrid)
)

// lookupFunc reads one configuration variable, like os.LookupEnv. Tests
// pass a map instead of setting the process environment.
type lookupFunc func(string) (string, bool)

// mapLookup serves variables from m.
func mapLookup(m map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// appConfig is the example's whole configuration, read once at start.
type appConfig struct {
	Addr        string
	AdminAddr   string // the operator listener: /healthz and /metrics
	DataDir     string
	Storage     string // modeRedis, modeDatabase or modeHybrid
	RedisURL    string
	DatabaseURL string // "" means the SQLite file in DataDir
	Session     ginsession.Config
	// CookieSecureDefaulted: SESSION_COOKIE_SECURE was unset and Addr is a
	// loopback address, so the cookie is sent over plain HTTP.
	CookieSecureDefaulted bool
	// ReadTimeout and WriteTimeout bound each request on both listeners
	// (default readTimeout, writeTimeout); tests shorten them.
	ReadTimeout, WriteTimeout time.Duration
	// streamHeartbeat is the event stream's heartbeat (0: the library's
	// default); tests shorten it.
	streamHeartbeat time.Duration
	lookup          lookupFunc
	Logger          *slog.Logger
}

// configFromLookup reads the configuration. Every bad value is reported,
// naming its variable; nothing bad is silently replaced by a default.
func configFromLookup(lookup lookupFunc, logger *slog.Logger) (appConfig, error) {
	if logger == nil {
		logger = slog.Default()
	}
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	c := appConfig{
		Addr:        get(envAddr),
		AdminAddr:   get(envAdminAddr),
		DataDir:     get(envDataDir),
		RedisURL:    get(envRedisURL),
		DatabaseURL: get(envDatabaseURL),
		Storage:     strings.ToLower(get(envStorage)),
		lookup:      lookup,
		Logger:      logger,
	}
	var errs []error
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: want host:port, e.g. %s", envAddr, c.Addr, defaultAddr))
	}
	if c.AdminAddr == "" {
		c.AdminAddr = defaultAdminAddr
	}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: want host:port, e.g. %s", envAdminAddr, c.AdminAddr, defaultAdminAddr))
	}
	c.ReadTimeout, c.WriteTimeout = readTimeout, writeTimeout
	if c.DataDir == "" {
		c.DataDir = defaultDataDirPath()
	}
	switch c.Storage {
	case "":
		c.Storage = string(storage.DefaultMode(c.RedisURL)) // the library's one rule
	case modeDatabase:
	case modeRedis, modeHybrid:
		if c.RedisURL == "" {
			errs = append(errs, fmt.Errorf("%s=%s needs %s", envStorage, c.Storage, envRedisURL))
		}
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want redis, database or hybrid", envStorage, c.Storage))
	}
	sc, err := ginsession.ConfigFromLookup(lookup)
	if err != nil {
		errs = append(errs, err)
	}
	if _, set := lookup(ginsession.EnvCookieSecure); !set && isLoopback(c.Addr) {
		sc.Cookie.Insecure = true
		c.CookieSecureDefaulted = true
	}
	sc.RecordDevice = true
	// API clients send the session token as "Authorization: Bearer".
	sc.TokenHeader.Enabled = true
	sc.MaxSessionsPerUser = maxSessionsPerUser
	sc.Logger = logger
	sc.OnUnavailable = unavailablePage
	c.Session = sc
	return c, errors.Join(errs...)
}

// unavailablePage answers a request whose session store is unavailable
// (the session middleware has set Retry-After): the library's JSON 503 under
// /api, a plain-text page elsewhere.
func unavailablePage(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		ginsession.Unavailable(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, "The session store is unavailable. Try again in a moment.")
}

// maxSessionsPerUser caps each demo user's live sessions; the oldest is
// evicted by a login beyond it.
const maxSessionsPerUser = 10

// isLoopback reports whether addr's host is a loopback address or
// "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sqlitePath is the embedded database file used when DATABASE_URL is unset.
func (c appConfig) sqlitePath() string { return filepath.Join(c.DataDir, "sessions.db") }

// keyFile holds the generated encryption key when SESSION_ENCRYPTION_KEYS
// is unset.
func (c appConfig) keyFile() string { return filepath.Join(c.DataDir, "session-key") }

// envLookup is the process environment.
var envLookup lookupFunc = os.LookupEnv
