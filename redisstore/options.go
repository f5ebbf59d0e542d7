package redisstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// Environment variables read by [OptionsFromEnv] and [NewFromEnv].
const (
	// EnvURL names the Redis server: see [NewFromURL] for the forms.
	EnvURL = "REDIS_URL"
	// EnvPrefix is the key prefix ([Options.Prefix]).
	EnvPrefix = "REDIS_SESSION_PREFIX"
)

// DefaultPrefix is the key prefix used when [Options.Prefix] is empty.
const DefaultPrefix = "vedfolnir:"

// MaxPrefixLen is the longest accepted [Options.Prefix], in bytes.
const MaxPrefixLen = 64

// MaxUserIDLen is the longest user id the store keeps, in bytes (64 KiB). A longer
// one fails Put with store.ErrTooLarge.
const MaxUserIDLen = 64 << 10

// Options configures a [Store]. The zero value works.
type Options struct {
	// Observer is told of every operation of the store, as store
	// "redis": the metrics and tracing packages provide one. Default nil.
	Observer store.Observer

	// Prefix starts every key and channel name the store uses: the app's
	// namespace in a shared Redis. Printable ASCII without spaces, braces
	// (which would change a key's cluster slot) or '*', at most
	// MaxPrefixLen bytes. Default [DefaultPrefix] ("vedfolnir:");
	// environment REDIS_SESSION_PREFIX (through [OptionsFromEnv]).
	Prefix string

	// MaxPayload is the largest Entry.Payload accepted, in bytes; a larger
	// one fails Put and CopyIn with store.ErrTooLarge. Default
	// store.DefaultMaxPayload (1 MiB). No environment variable.
	MaxPayload int

	// Logger, when set, receives go-redis's own log lines (failed dials,
	// pool and cluster events) through [SetLogger]; go-redis has one
	// logger per process, so this replaces it for every client. Default:
	// leave go-redis's logger as it is. No environment variable.
	Logger *slog.Logger

	// Now is the clock deciding when entries die: Get never returns an
	// entry at or past its deadline by this clock, and key TTLs are set
	// relative to it. Default time.Now. No environment variable; meant for
	// tests.
	Now func() time.Time
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = store.DefaultMaxPayload
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate checks options already through withDefaults.
func (o Options) validate() error {
	return validName("prefix", o.Prefix, MaxPrefixLen)
}

// validName checks a prefix or a topic: printable ASCII, no space, no
// braces, no '*', 1 to max bytes.
func validName(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes", what, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '{' || c == '}' || c == '*' {
			return fmt.Errorf("%s: byte %d (%q) is not allowed: use printable ASCII without spaces, braces or '*'", what, i, c)
		}
	}
	return nil
}

// OptionsFromEnv returns Options with Prefix from REDIS_SESSION_PREFIX
// (unset or empty: the default). A bad value is an error naming the
// variable.
func OptionsFromEnv() (Options, error) {
	var o Options
	if v := os.Getenv(EnvPrefix); v != "" {
		if err := validName(EnvPrefix, v, MaxPrefixLen); err != nil {
			return o, fmt.Errorf("redisstore: %w", err)
		}
		o.Prefix = v
	}
	return o, nil
}

// Client defaults for session traffic, applied by [NewFromURL] to every
// setting the URL leaves unset, and by [UniversalOptions]. A session read
// sits on the path of every request, so a sick server must fail a request
// within a fraction of a second (and let a fallback serve), not hold it for
// go-redis v9.23's defaults: 5 s read timeout, 5 dial attempts and 3
// retries, up to 10 s on a frozen server.
const (
	// DefaultDialTimeout bounds one connection attempt; one attempt is made
	// (DialerRetries 1).
	DefaultDialTimeout = 250 * time.Millisecond
	// DefaultReadTimeout bounds the wait for a reply; the write timeout is
	// the same.
	DefaultReadTimeout = 250 * time.Millisecond
	// DefaultPoolTimeout bounds the wait for a free connection when all are
	// busy.
	DefaultPoolTimeout = 500 * time.Millisecond
)

// The remaining fail-fast settings: no retries (the scripts are
// compare-and-set, and a retried write whose first reply was lost would
// report a conflict; callers and fallbacks retry with knowledge), and
// ContextTimeoutEnabled so a caller's context deadline also bounds socket
// I/O. A frozen server thus fails a call after about DefaultReadTimeout, a
// stopped one at once.
//
// The protocol is RESP2 unless set (protocol=3 in a URL): session traffic
// uses nothing RESP3 adds, and go-redis v9 checks every RESP3 reply for
// pending push notifications, about 4% of a session read's CPU in the load
// profiles. Set Protocol 3 for client-side caching or maintenance
// notifications.
const (
	clientMaxRetries    = -1 // go-redis: -1 disables retries
	clientDialerRetries = 1
	clientProtocol      = 2
)

// UniversalOptions returns go-redis options for addrs with the fail-fast
// defaults above, for redis.NewUniversalClient: one address is a plain
// client, several a cluster; set MasterName for Sentinel. Adjust any field
// before building the client.
func UniversalOptions(addrs ...string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 addrs,
		MaxRetries:            clientMaxRetries,
		DialTimeout:           DefaultDialTimeout,
		DialerRetries:         clientDialerRetries,
		ReadTimeout:           DefaultReadTimeout,
		WriteTimeout:          DefaultReadTimeout,
		PoolTimeout:           DefaultPoolTimeout,
		ContextTimeoutEnabled: true,
		Protocol:              clientProtocol,
	}
}

// failFast holds pointers to the fields of one of go-redis's option
// structs, so the defaults are written once.
type failFast struct {
	maxRetries, dialerRetries *int
	protocol                  *int
	dial, read, write, pool   *time.Duration
	contextTimeout            *bool
}

// apply sets the defaults on the fields that are zero (unset in the URL).
func (f failFast) apply() {
	if *f.maxRetries == 0 {
		*f.maxRetries = clientMaxRetries
	}
	if *f.dialerRetries == 0 {
		*f.dialerRetries = clientDialerRetries
	}
	if *f.protocol == 0 {
		*f.protocol = clientProtocol
	}
	for _, d := range [...]struct {
		p *time.Duration
		v time.Duration
	}{{f.dial, DefaultDialTimeout}, {f.read, DefaultReadTimeout}, {f.write, DefaultReadTimeout}, {f.pool, DefaultPoolTimeout}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	*f.contextTimeout = true
}

// NewFromURL builds a client from url with the fail-fast defaults (for
// every setting the URL leaves unset) and a Store that owns it: Close
// closes the client. The forms, parsed by go-redis's own parsers
// (redis.ParseURL, redis.ParseClusterURL, redis.ParseFailoverURL), whose
// query parameters (dial_timeout, pool_size, ...) all work:
//
//	redis://[user:pass@]host:port[/db]               one server
//	rediss://...                                      the same over TLS
//	redis+cluster://host:port?addr=host2:port2&...    a Redis Cluster (also rediss+cluster)
//	redis://host:port?addr=host2:port2&...            a Redis Cluster (several addresses)
//	redis+sentinel://host:port?master_name=mymaster   Sentinel (also rediss+sentinel; more
//	                                                  sentinels with addr=, the master's
//	                                                  password with password=)
//	redis://host:port?master_name=mymaster            Sentinel
func NewFromURL(rawURL string, opts Options) (*Store, error) {
	c, err := clientFromURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s, err := New(c, opts)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewFromEnv is NewFromURL(REDIS_URL) with [OptionsFromEnv]. A missing or
// bad value is an error naming the variable.
func NewFromEnv() (*Store, error) {
	u := os.Getenv(EnvURL)
	if u == "" {
		return nil, fmt.Errorf("redisstore: %s is not set (or empty): want redis://host:port[/db]", EnvURL)
	}
	o, err := OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	s, err := NewFromURL(u, o)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, EnvURL)
	}
	return s, nil
}

// errURL hides the URL text (it may hold a password) behind a fixed
// message; go-redis's own parse errors do not repeat the password.
var errURL = errors.New("invalid Redis URL")

// explainURL says what is wrong with a URL that url.Parse refused,
// without repeating any of it (it may hold a password).
func explainURL(raw string) error {
	const want = "want redis://[user:pass@]host:port[/db]"
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fmt.Errorf("%w: no scheme: %s", errURL, want)
	}
	host := rest
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if h, port, err := net.SplitHostPort(host); err == nil {
		switch {
		case h == "":
			return fmt.Errorf("%w: no host before the port: %s", errURL, want)
		case port == "" || strings.Trim(port, "0123456789") != "":
			return fmt.Errorf("%w: the port is not a number: %s, e.g. redis://localhost:6379/0", errURL, want)
		}
	}
	if strings.ContainsAny(rest, " \t\n") {
		return fmt.Errorf("%w: it contains spaces: %s", errURL, want)
	}
	return fmt.Errorf("%w: not a URL: %s (a password with special characters must be percent-encoded)", errURL, want)
}

// clientFromURL picks the form and builds the client.
func clientFromURL(raw string) (redis.UniversalClient, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: the URL is empty: want redis://host:port[/db]", errURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, explainURL(raw) // url.Error would print the text
	}

	scheme, mode, _ := strings.Cut(u.Scheme, "+")
	q := u.Query()
	switch {
	case mode == "" && q.Has("master_name"):
		mode = "sentinel"
	case mode == "" && q.Has("addr"):
		mode = "cluster"
	}
	if scheme != "redis" && scheme != "rediss" {
		return nil, fmt.Errorf("%w: scheme must be redis or rediss (optionally +cluster or +sentinel): want redis://host:port[/db]", errURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no host: want %s://host:port[/db]", errURL, u.Scheme)
	}
	u.Scheme = scheme
	plain := u.String()
	switch mode {
	case "":
		o, err := redis.ParseURL(plain)
		if err != nil {
			return nil, err
		}
		failFast{&o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}.apply()
		return redis.NewClient(o), nil
	case "cluster":
		o, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, err
		}
		failFast{&o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}.apply()
		return redis.NewClusterClient(o), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, err
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("%w: a sentinel URL needs master_name", errURL)
		}
		failFast{&o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.ContextTimeoutEnabled}.apply()
		return redis.NewFailoverClient(o), nil
	default:
		return nil, fmt.Errorf("%w: unknown form %q (use +cluster or +sentinel)", errURL, mode)
	}
}
