package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// Mode is a storage mode: where sessions live.
type Mode string

// The storage modes, the values of SESSION_STORAGE.
const (
	// ModeRedis keeps sessions in Redis only.
	ModeRedis Mode = "redis"
	// ModeDatabase keeps sessions in SQL only (SQLite or PostgreSQL).
	ModeDatabase Mode = "database"
	// ModeHybrid serves from Redis and mirrors every session into SQL,
	// which takes over when Redis fails ([hybrid.Store]).
	ModeHybrid Mode = "hybrid"
)

// Environment variables read by [FromEnv].
const (
	EnvStorage     = "SESSION_STORAGE"      // redis | database | hybrid
	EnvRedisURL    = "REDIS_URL"            // see redisstore.NewFromURL for the forms
	EnvRedisPrefix = "REDIS_SESSION_PREFIX" // Redis key prefix; default redisstore.DefaultPrefix
	EnvDatabaseURL = "DATABASE_URL"         // postgres://... or a SQLite path; see dbstore.Open
)

// DefaultSQLitePath is the SQLite file used in database and hybrid modes
// when DATABASE_URL is unset and Options.DefaultSQLitePath is empty.
const DefaultSQLitePath = "sessions.db"

// maxGenSuffix is the longest suffix a generation adds to the Redis key
// prefix: "g" + 20 digits + ":".
const maxGenSuffix = 22

// ErrConfig is wrapped by every configuration error; the message names the
// environment variable at fault.
var ErrConfig = errors.New("storage: invalid configuration")

// ErrNotConfigured is returned by the ping of a backend the mode does not
// use.
var ErrNotConfigured = errors.New("storage: backend not configured")

// Config says which backends to use. [ConfigFromEnv] builds it from the
// environment; [Open] takes it directly.
type Config struct {
	// Mode is the storage mode. Env: SESSION_STORAGE. Default
	// [DefaultMode]: hybrid when RedisURL is set, database otherwise.
	Mode Mode
	// RedisURL names the Redis server (redis://, rediss://, +cluster,
	// +sentinel). Env: REDIS_URL. Required in redis and hybrid modes.
	RedisURL string
	// RedisPrefix starts every Redis key. Env: REDIS_SESSION_PREFIX.
	// Default redisstore.DefaultPrefix ("vedfolnir:"). At most
	// redisstore.MaxPrefixLen-22 bytes, so that a generation fits after it.
	RedisPrefix string
	// DatabaseURL is a postgres:// URL or a SQLite path or URL. Env:
	// DATABASE_URL. Default in database and hybrid modes:
	// Options.DefaultSQLitePath.
	DatabaseURL string
}

// Options tunes [FromEnv] and [Open]. The zero value works.
type Options struct {
	// DefaultSQLitePath is the SQLite file used when DATABASE_URL is unset
	// in database or hybrid mode. Default [DefaultSQLitePath]
	// ("sessions.db", in the working directory).
	DefaultSQLitePath string
	// Lookup reads environment variables for [FromEnv]. Default
	// os.LookupEnv.
	Lookup func(string) (string, bool)
	// MaxPayload is the largest sealed session both stores accept, in
	// bytes. Default store.DefaultMaxPayload (1 MiB).
	MaxPayload int
	// Database tunes the SQL store (table, sweeper); its MaxPayload is
	// replaced by MaxPayload.
	Database dbstore.Options
	// DatabaseMaxConns bounds the PostgreSQL connection pool, so a burst
	// of requests queues in the pool instead of exhausting the server's
	// max_connections. SQLite always uses one connection. Default 16.
	DatabaseMaxConns int
	// Hybrid tunes the hybrid composition in hybrid mode (write-behind,
	// timeouts, OnStateChange); Namespace and Generation are set by Open.
	// In database mode its GenerationInterval, MirrorTimeout and Logger
	// drive the generation upkeep ([hybrid.OpenSecondaryOnly]). Default:
	// the zero hybrid.Options, with Logger.
	Hybrid hybrid.Options
	// HealthTimeout bounds each backend's check in [Storage.Health].
	// Default 1s.
	HealthTimeout time.Duration
	// HealthDB is a database the application also depends on in redis
	// mode (its audit trail, say), where the storage opens none: Health
	// reports it as the database component, its outage degrading the
	// report. Ignored in the other modes. Default nil: the database
	// component is not configured in redis mode.
	HealthDB *sql.DB
	// Observer is told of every operation of the stores Open builds:
	// the Redis store ("redis"), the SQL store ("database") and the hybrid
	// composition ("hybrid"). It is the default of Database.Observer and
	// Hybrid.Observer. Give the same observer to ginsession.Config.Observer
	// to see each session's load and save above them. Default nil.
	Observer store.Observer
	// Logger receives start-up notes (among them where a SQLite file is,
	// and whether this start created it), background errors, the errors
	// behind a health report's categories, and go-redis's own log lines
	// (redisstore.SetLogger: go-redis has one logger per process, so Open
	// replaces it; call redis.SetLogger after Open to choose another).
	// Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.DefaultSQLitePath == "" {
		o.DefaultSQLitePath = DefaultSQLitePath
	}
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = store.DefaultMaxPayload
	}
	o.Database.MaxPayload = o.MaxPayload
	if o.Database.Observer == nil {
		o.Database.Observer = o.Observer
	}
	if o.Hybrid.Observer == nil {
		o.Hybrid.Observer = o.Observer
	}
	if o.DatabaseMaxConns <= 0 {
		o.DatabaseMaxConns = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = time.Second
	}
	if o.Hybrid.Logger == nil {
		o.Hybrid.Logger = o.Logger
	}
	return o
}

// DefaultMode is the storage mode used when SESSION_STORAGE is unset or
// empty, the one rule for the library and the example: [ModeHybrid] when a
// Redis URL is set (Redis serves; SQL, DATABASE_URL or else the SQLite file
// Options.DefaultSQLitePath, mirrors every session and takes over when
// Redis fails), [ModeDatabase] otherwise. Set SESSION_STORAGE=redis for
// Redis alone.
func DefaultMode(redisURL string) Mode {
	if strings.TrimSpace(redisURL) != "" {
		return ModeHybrid
	}
	return ModeDatabase
}

// ConfigFromEnv reads SESSION_STORAGE, REDIS_URL, REDIS_SESSION_PREFIX and
// DATABASE_URL through lookup (os.LookupEnv when nil). A bad value is an
// error wrapping ErrConfig and naming the variable.
func ConfigFromEnv(lookup func(string) (string, bool), opts Options) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	opts = opts.withDefaults()
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	c := Config{RedisURL: get(EnvRedisURL), RedisPrefix: get(EnvRedisPrefix), DatabaseURL: get(EnvDatabaseURL)}
	switch m := Mode(strings.ToLower(get(EnvStorage))); m {
	case "":
		c.Mode = DefaultMode(c.RedisURL)
	case ModeRedis, ModeDatabase, ModeHybrid:
		c.Mode = m
	default:
		return c, fmt.Errorf("%w: %s=%q: want redis, database or hybrid", ErrConfig, EnvStorage, get(EnvStorage))
	}
	return c, c.validate(opts)
}

// validate checks a Config and fills the SQLite default.
func (c *Config) validate(opts Options) error {
	switch c.Mode {
	case ModeRedis, ModeHybrid:
		if c.RedisURL == "" {
			return fmt.Errorf("%w: %s=%s needs %s, which is unset or empty (want redis://host:port[/db])", ErrConfig, EnvStorage, c.Mode, EnvRedisURL)
		}
	case ModeDatabase:
	default:
		return fmt.Errorf("%w: %s=%q: want redis, database or hybrid", ErrConfig, EnvStorage, c.Mode)
	}
	if c.Mode != ModeRedis && c.DatabaseURL == "" {
		c.DatabaseURL = opts.DefaultSQLitePath
	}
	if c.Mode != ModeDatabase {
		if c.RedisPrefix == "" {
			c.RedisPrefix = redisstore.DefaultPrefix
		}
		if len(c.RedisPrefix) > redisstore.MaxPrefixLen-maxGenSuffix {
			return fmt.Errorf("%w: %s is %d bytes: at most %d (a generation is appended to it)",
				ErrConfig, EnvRedisPrefix, len(c.RedisPrefix), redisstore.MaxPrefixLen-maxGenSuffix)
		}
		for i := 0; i < len(c.RedisPrefix); i++ {
			if b := c.RedisPrefix[i]; b <= ' ' || b > '~' || b == '{' || b == '}' || b == '*' {
				return fmt.Errorf("%w: %s: byte %d (%q) is not allowed: use printable ASCII without spaces, braces or '*'",
					ErrConfig, EnvRedisPrefix, i, b)
			}
		}
	}
	return nil
}

// NamespacePrefix is the Redis key prefix of a generation's namespace:
// base itself for generation 1 (so sessions are at
// redisstore.KeyName(base, key) until the first outage), and "g{n}:"
// inserted after the namespace part after that: "vedfolnir:" and
// "vedfolnir:session:" both give sessions at "vedfolnir:g2:session:{id}"
// in generation 2 (see redisstore.SessionKeyPrefix for the rule).
func NamespacePrefix(base string, generation uint64) string {
	if generation <= 1 {
		return base
	}
	gen := "g" + strconv.FormatUint(generation, 10) + ":"
	if ns, ok := strings.CutSuffix(base, "session:"); ok {
		return ns + gen + "session:"
	}
	return base + gen
}

// Storage is the session storage an application runs on, in one of the
// three modes. Build it with [FromEnv] or [Open]; close it at shutdown.
type Storage struct {
	mode Mode
	st   store.Store
	hy   *hybrid.Store
	rs   *redisstore.Store // base namespace: broker, client, mode record
	db   *dbstore.Store
	solo *hybrid.SecondaryOnly // database mode
	gen  uint64                // redis mode's namespace
	base string
	log  *slog.Logger
	// maxPayload is Options.MaxPayload, for stores built after Open.
	maxPayload int
	// observer is Options.Observer, for Redis stores built after Open.
	observer store.Observer

	healthTimeout       time.Duration
	redisProbe, dbProbe *probe

	closeOnce sync.Once
	closeErr  error
}

// FromEnv opens the storage the environment describes: see
// [ConfigFromEnv] and [Open]. ctx bounds the start-up work (migrations,
// the generation record).
func FromEnv(ctx context.Context, opts Options) (*Storage, error) {
	cfg, err := ConfigFromEnv(opts.Lookup, opts)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, opts)
}

// Open opens the storage cfg describes.
//
//   - redis: a Redis store with fail-fast client settings. Redis must answer
//     at start (to find the current namespace).
//   - database: a SQL store, as a [hybrid.SecondaryOnly]: the generation
//     record is incremented at start (and again every
//     Options.Hybrid.GenerationInterval while sessions are written), so a
//     later hybrid start never reads Redis copies older than what this mode
//     wrote.
//   - hybrid: a [hybrid.Store] of both. Redis may be down at start: it then
//     serves from SQL until Redis answers.
func Open(ctx context.Context, cfg Config, opts Options) (*Storage, error) {
	opts = opts.withDefaults()
	if err := cfg.validate(opts); err != nil {
		return nil, err
	}
	s := &Storage{mode: cfg.Mode, base: cfg.RedisPrefix, log: opts.Logger, maxPayload: opts.MaxPayload, observer: opts.Observer}
	var err error
	switch cfg.Mode {
	case ModeRedis:
		err = s.openRedis(ctx, cfg, opts)
	case ModeDatabase:
		err = s.openDatabase(ctx, cfg, opts)
	case ModeHybrid:
		err = s.openHybrid(ctx, cfg, opts)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.initHealth(opts)
	return s, nil
}

func (s *Storage) openSQL(ctx context.Context, cfg Config, opts Options) error {
	file, isFile := SQLiteFile(cfg.DatabaseURL)
	existed := false
	if isFile {
		_, err := os.Stat(file)
		existed = err == nil
	}
	db, err := dbstore.Open(ctx, cfg.DatabaseURL, opts.Database)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", EnvDatabaseURL, err)
	}
	if isFile {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		msg := "storage: sessions in SQLite file " + file
		if !existed {
			msg = "storage: created SQLite file " + file
		}
		s.log.Info(msg, "mode", string(cfg.Mode), "path", file, "created", !existed, "from", sqlSource(cfg.DatabaseURL, opts))
	}
	if u := strings.ToLower(cfg.DatabaseURL); strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		db.DB().SetMaxOpenConns(opts.DatabaseMaxConns)
		db.DB().SetMaxIdleConns(opts.DatabaseMaxConns)
	}
	s.db = db
	return nil
}

// sqlSource says where the SQL URL came from, for the start-up note.
func sqlSource(url string, opts Options) string {
	if url == opts.DefaultSQLitePath {
		return "default (" + EnvDatabaseURL + " unset)"
	}
	return EnvDatabaseURL
}

// SQLiteFile returns the file a DATABASE_URL-style string names when it is
// SQLite on disk (the forms dbstore.Open takes: sqlite:, file:, a plain
// path); false for PostgreSQL, other schemes and ":memory:".
func SQLiteFile(url string) (string, bool) {
	u := strings.TrimSpace(url)
	lower := strings.ToLower(u)
	switch {
	case u == "":
		return "", false
	case strings.HasPrefix(lower, "sqlite:"):
		u = strings.TrimPrefix(u[len("sqlite:"):], "//")
	case strings.HasPrefix(lower, "file:"):
		u = u[len("file:"):]
	case strings.Contains(u, "://"):
		return "", false
	}
	u, _, _ = strings.Cut(u, "?")
	if u == "" || u == ":memory:" {
		return "", false
	}
	return u, true
}

func (s *Storage) openRedisBase(cfg Config, opts Options) error {
	rs, err := redisstore.NewFromURL(cfg.RedisURL, redisstore.Options{Prefix: cfg.RedisPrefix, MaxPayload: opts.MaxPayload, Logger: opts.Logger, Observer: opts.Observer})
	if err != nil {
		return fmt.Errorf("storage: %s: %w", EnvRedisURL, err)
	}
	s.rs = rs
	return nil
}

// namespace returns the Redis store of a generation, on the shared client.
func (s *Storage) namespace(maxPayload int) func(uint64) (store.Store, error) {
	return func(gen uint64) (store.Store, error) {
		if gen <= 1 {
			return s.rs, nil
		}
		return redisstore.New(s.rs.Client(), redisstore.Options{Prefix: NamespacePrefix(s.base, gen), MaxPayload: maxPayload, Observer: s.observer})
	}
}

func (s *Storage) openRedis(ctx context.Context, cfg Config, opts Options) error {
	if err := s.openRedisBase(cfg, opts); err != nil {
		return err
	}
	rec, _, err := loadMode(ctx, s.rs)
	if err != nil {
		return fmt.Errorf("storage: %s: redis mode needs Redis at start to find the session namespace: %w", EnvRedisURL, err)
	}
	s.gen = max(rec.Generation, 1)
	if err := writeMode(ctx, s.rs, modeRecord{Mode: ModeRedis, Generation: s.gen}); err != nil {
		return fmt.Errorf("storage: %s: %w", EnvRedisURL, err)
	}
	if cfg.DatabaseURL != "" {
		s.markUnmirrored(ctx, cfg, opts)
	}
	st, err := s.namespace(opts.MaxPayload)(s.gen)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", EnvRedisPrefix, err)
	}
	s.st = st
	return nil
}

// markUnmirrored records in SQL, best effort, that Redis is written
// without it from now on, so the next hybrid or database start distrusts
// SQL's older copies even if Redis has lost its own mode record by then.
func (s *Storage) markUnmirrored(ctx context.Context, cfg Config, opts Options) {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	dbo := opts.Database
	dbo.DisableSweeper = true
	db, err := dbstore.Open(c, cfg.DatabaseURL, dbo)
	if err == nil {
		defer db.Close()
		err = hybrid.MarkPrimaryOnly(c, db)
	}
	if err != nil {
		s.log.Info("storage: redis mode could not mark SQL stale (DATABASE_URL is set); a later hybrid start relies on Redis's own mode record", "err", err)
	}
}

func (s *Storage) openDatabase(ctx context.Context, cfg Config, opts Options) error {
	if err := s.openSQL(ctx, cfg, opts); err != nil {
		return err
	}
	solo, err := hybrid.OpenSecondaryOnly(ctx, s.db, opts.Hybrid)
	if err != nil {
		return fmt.Errorf("storage: %s: generation record: %w", EnvDatabaseURL, err)
	}
	s.solo, s.st = solo, solo
	if cfg.RedisURL != "" {
		// Best effort: tell a later redis-mode start that Redis's copies
		// are older than SQL's, so it starts a fresh namespace.
		s.tellRedis(ctx, cfg, opts, solo.Generation().Number)
	}
	return nil
}

func (s *Storage) tellRedis(ctx context.Context, cfg Config, opts Options, gen uint64) {
	rs, err := redisstore.NewFromURL(cfg.RedisURL, redisstore.Options{Prefix: cfg.RedisPrefix, MaxPayload: opts.MaxPayload, Observer: opts.Observer})
	if err != nil {
		return
	}
	defer rs.Close()
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := writeMode(c, rs, modeRecord{Mode: ModeDatabase, Generation: gen}); err != nil {
		s.log.Info("storage: database mode could not mark Redis stale (a direct switch to redis mode would serve copies older than SQL's)", "err", err)
	}
}

func (s *Storage) openHybrid(ctx context.Context, cfg Config, opts Options) error {
	if err := s.openSQL(ctx, cfg, opts); err != nil {
		return err
	}
	if err := s.openRedisBase(cfg, opts); err != nil {
		return err
	}
	rc, cancel := context.WithTimeout(ctx, time.Second)
	rec, found, rerr := loadMode(rc, s.rs)
	cancel()
	if rerr != nil {
		s.log.Warn("storage: Redis unavailable at start: serving sessions from SQL until it answers", "err", rerr)
	}
	marked := rerr == nil && found && rec.Mode == ModeRedis
	// Redis served alone (its mode record says so): its namespace is the
	// truth and SQL's copies may be stale.
	g, err := hybrid.ResumeGeneration(ctx, s.db, hybrid.PrimaryState{ServedAlone: marked, Generation: rec.Generation})
	if err != nil {
		return fmt.Errorf("storage: %s: generation record: %w", EnvDatabaseURL, err)
	}
	if rerr == nil {
		wc, cancel := context.WithTimeout(ctx, time.Second)
		if err := writeMode(wc, s.rs, modeRecord{Mode: ModeHybrid, Generation: g.Number}); err != nil {
			s.log.Warn("storage: could not record the storage mode in Redis", "err", err)
		}
		cancel()
	}
	ns := s.namespace(opts.MaxPayload)
	primary, err := ns(g.Number)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", EnvRedisPrefix, err)
	}
	fo := opts.Hybrid
	fo.Namespace, fo.Generation = ns, g
	user := fo.OnGeneration
	fo.OnGeneration = func(gen uint64) {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := writeMode(c, s.rs, modeRecord{Mode: ModeHybrid, Generation: gen}); err != nil {
			s.log.Warn("storage: could not record the generation in Redis", "generation", gen, "err", err)
		}
		if user != nil {
			user(gen)
		}
	}
	hy, err := hybrid.New(primary, s.db, fo)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	s.hy, s.st = hy, hy
	return nil
}

// MigrateRedisKeys moves the Redis sessions of the namespace in use from
// the binary key names of earlier versions to the current printable ones:
// [redisstore.Store.MigrateKeys], online and idempotent. Run it once after
// deploying; it does nothing in database mode.
func (s *Storage) MigrateRedisKeys(ctx context.Context) (redisstore.MigrateResult, error) {
	if s.rs == nil || s.mode == ModeDatabase {
		return redisstore.MigrateResult{}, nil
	}
	rs, err := redisstore.New(s.rs.Client(), redisstore.Options{Prefix: s.RedisPrefix(), MaxPayload: s.maxPayload})
	if err != nil {
		return redisstore.MigrateResult{}, fmt.Errorf("storage: %w", err)
	}
	return rs.MigrateKeys(ctx)
}

// Store returns the session store to give ginsession.Config.Store.
func (s *Storage) Store() store.Store { return s.st }

// Mode returns the storage mode in use.
func (s *Storage) Mode() Mode { return s.mode }

// Broker returns the Redis pub/sub broker for session events in redis and
// hybrid modes, nil in database mode.
func (s *Storage) Broker() store.Broker {
	if s.rs == nil || s.mode == ModeDatabase {
		return nil
	}
	return s.rs
}

// Hybrid returns the hybrid composition in hybrid mode, nil in the other
// modes.
func (s *Storage) Hybrid() *hybrid.Store { return s.hy }

// RedisClient returns the Redis client (redis and hybrid modes), nil in
// database mode.
func (s *Storage) RedisClient() redis.UniversalClient {
	if s.rs == nil {
		return nil
	}
	return s.rs.Client()
}

// DB returns the SQL database (database and hybrid modes), nil in redis
// mode.
func (s *Storage) DB() *sql.DB {
	if s.db == nil {
		return nil
	}
	return s.db.DB()
}

// Generation returns the generation whose Redis namespace holds the
// sessions (redis and hybrid modes; 0 in database mode).
func (s *Storage) Generation() uint64 {
	switch {
	case s.hy != nil:
		return s.hy.Status().Generation
	case s.mode == ModeRedis:
		return s.gen
	}
	return 0
}

// RedisPrefix returns the Redis key prefix of the namespace in use ("" in
// database mode): session keys are redisstore.KeyName(RedisPrefix(), key).
func (s *Storage) RedisPrefix() string {
	if s.mode == ModeDatabase {
		return ""
	}
	return NamespacePrefix(s.base, s.Generation())
}

// PingRedis checks that Redis answers; ErrNotConfigured in database mode.
func (s *Storage) PingRedis(ctx context.Context) error {
	if s.rs == nil || s.mode == ModeDatabase {
		return ErrNotConfigured
	}
	return s.rs.Ping(ctx)
}

// PingDatabase checks that the database answers; ErrNotConfigured in redis
// mode.
func (s *Storage) PingDatabase(ctx context.Context) error {
	if s.db == nil {
		return ErrNotConfigured
	}
	return s.db.Ping(ctx)
}

// Close stops the hybrid composition (draining its mirror queue), records a last
// generation increment in database mode when sessions were written, and
// closes the clients Open made. Later calls return the first result.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.hy != nil {
			errs = append(errs, s.hy.Close())
		}
		if s.solo != nil {
			errs = append(errs, s.solo.Close())
		}
		if s.rs != nil {
			errs = append(errs, s.rs.Close())
		}
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("storage: close: %w", err)
		}
	})
	return s.closeErr
}
