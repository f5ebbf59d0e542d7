package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
)

// ErrInvalid is wrapped by errors about bad options or arguments.
var ErrInvalid = errors.New("audit: invalid argument")

// Defaults of [Options].
const (
	DefaultTable             = "session_audit"
	DefaultQueueSize         = 10_000
	DefaultBatchSize         = 200
	DefaultFlushInterval     = 250 * time.Millisecond
	DefaultWriteTimeout      = 5 * time.Second
	DefaultMaxUserAgent      = 512
	DefaultMaxDetail         = 512
	DefaultRetentionInterval = time.Hour
	DefaultRetention         = 90 * 24 * time.Hour
)

// MaxBatchSize bounds [Options.BatchSize]: 1000 rows of 9 values stay far
// below SQLite's and PostgreSQL's limits on statement parameters.
const MaxBatchSize = 1000

// Column bounds that are not configurable, in bytes.
const (
	maxUserID   = 256
	maxSession  = 64
	maxKind     = 64
	maxIP       = 64
	maxPlatform = 128
)

// Options configures a [Writer]. The zero value is the safe default.
type Options struct {
	// Table is the audit table's name; the writer also creates
	// <Table>_migrations and indexes named after it. It must match
	// [a-z_][a-z0-9_]{0,47}. Default "session_audit".
	Table string
	// Dialect names the SQL engine behind the *sql.DB: "sqlite",
	// "postgres" or "mysql" (MySQL or MariaDB). Default "": detected from the driver, which a wrapping
	// driver (otelsql, sqlhooks) hides: name the engine then.
	Dialect string
	// QueueSize bounds the events waiting to be written; when it is full,
	// new events are dropped and counted. Default 10,000.
	QueueSize int
	// BatchSize is the most rows one INSERT writes. Default 200, at most
	// MaxBatchSize.
	BatchSize int
	// FlushInterval: a partial batch waits at most this long. Default
	// 250 ms.
	FlushInterval time.Duration
	// WriteTimeout bounds each batch INSERT; a batch that fails or times
	// out is dropped and counted, never retried (the database is sick:
	// retries would only grow the backlog). Default 5 s.
	WriteTimeout time.Duration
	// Kinds, when set, are the only event kinds recorded. Default: every
	// kind.
	Kinds []ginsession.EventKind
	// MaxUserAgent bounds the stored user agent, in bytes, after escaping.
	// Default 512.
	MaxUserAgent int
	// MaxDetail bounds the stored detail, in bytes, after escaping.
	// Default 512.
	MaxDetail int
	// Retention: rows older than this are deleted ([Writer.Purge]) every
	// RetentionInterval, in the background. Default 90 days
	// (DefaultRetention); a negative value keeps everything.
	Retention time.Duration
	// IncludeAnonymous also records events that belong to no user: a
	// rejected cookie that names no session, an anonymous session created
	// or expired. Default false: anyone can cause those at no cost, so
	// recording them would let anyone fill the table; count them with
	// metrics instead. Events of a user's session (a rejected cookie of a
	// logged-in session included) are always recorded.
	IncludeAnonymous bool
	// RetentionInterval is how often the retention purge runs. Default 1 h.
	RetentionInterval time.Duration
	// OnDrop, when set, is called with the number of events just dropped
	// (queue full, write failed, or closed): a hook for metrics. It may run
	// on a request's goroutine and concurrently: keep it fast and safe for
	// concurrent use.
	OnDrop func(n int)
	// Logger receives drops (at most one line per 10 s, with the count)
	// and retention failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for events without a time and for Purge. Default
	// time.Now.
	Now func() time.Time
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

func (o Options) withDefaults() (Options, error) {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: Options.%s %v: %s", ErrInvalid, field, v, why)
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !tableName.MatchString(o.Table) {
		return o, bad("Table", fmt.Sprintf("%q", o.Table), "must match "+tableName.String())
	}
	ints := []struct {
		name string
		p    *int
		def  int
		max  int
	}{
		{"QueueSize", &o.QueueSize, DefaultQueueSize, 1 << 24},
		{"BatchSize", &o.BatchSize, DefaultBatchSize, MaxBatchSize},
		{"MaxUserAgent", &o.MaxUserAgent, DefaultMaxUserAgent, 1 << 16},
		{"MaxDetail", &o.MaxDetail, DefaultMaxDetail, 1 << 16},
	}
	for _, f := range ints {
		switch {
		case *f.p == 0:
			*f.p = f.def
		case *f.p < 0 || *f.p > f.max:
			return o, bad(f.name, *f.p, fmt.Sprintf("must be between 1 and %d", f.max))
		}
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"FlushInterval", &o.FlushInterval, DefaultFlushInterval},
		{"WriteTimeout", &o.WriteTimeout, DefaultWriteTimeout},
		{"RetentionInterval", &o.RetentionInterval, DefaultRetentionInterval},
	}
	switch {
	case o.Retention == 0:
		o.Retention = DefaultRetention
	case o.Retention < 0:
		o.Retention = 0 // keep everything
	}
	for _, f := range durs {
		switch {
		case *f.p == 0:
			*f.p = f.def
		case *f.p < 0:
			return o, bad(f.name, *f.p, "must not be negative")
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
