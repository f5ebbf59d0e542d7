package dbstore

import (
	"fmt"
	"regexp"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Options configures a [Store]. The zero value is ready to use.
type Options struct {
	// Observer is told of every operation of the store, as store
	// "database": the metrics and tracing packages provide one. Default nil.
	Observer store.Observer

	// Table is the name of the sessions table; the store also creates
	// <Table>_migrations and indexes named after it. It must match
	// [a-z_][a-z0-9_]{0,47}: short enough that every derived name fits
	// PostgreSQL's 63-byte identifier limit. Default "sessions".
	Table string

	// MaxPayload is the largest Payload the store accepts, in bytes; a
	// larger one fails with store.ErrTooLarge. Default
	// store.DefaultMaxPayload (1 MiB).
	MaxPayload int

	// SweepInterval is how often the background sweeper deletes expired
	// rows. Expired rows are never served in between: every read filters
	// on the deadline. Default 5 minutes.
	SweepInterval time.Duration

	// DisableSweeper turns the background sweeper off, for example when
	// a separate job calls [Store.Sweep]. Default false.
	DisableSweeper bool

	// OnSweep, if set, is called after every background sweep with the
	// number of rows deleted and the error, if any. It runs on the
	// sweeper's goroutine. Default nil: results are dropped, and the next
	// sweep tries again.
	OnSweep func(deleted int, err error)

	// Now is the store's clock, used to judge expiry. Default time.Now.
	Now func() time.Time

	// Dialect names the SQL engine behind the *sql.DB given to [New].
	// Default DialectAuto: detected from the driver, which works for
	// modernc.org/sqlite, pgx, lib/pq and go-sql-driver/mysql but not
	// through a wrapping driver (otelsql, sqlhooks): name the engine then.
	Dialect Dialect

	// CloseDB makes [Store.Close] close the database too. Default false:
	// the caller owns the *sql.DB. [Open] sets it.
	CloseDB bool
}

// DefaultTable is the table name used when Options.Table is empty.
const DefaultTable = "sessions"

// DefaultSweepInterval is the sweeper period used when
// Options.SweepInterval is zero.
const DefaultSweepInterval = 5 * time.Minute

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// withDefaults fills zero values and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !tableName.MatchString(o.Table) {
		return o, fmt.Errorf("%w: Options.Table %q must match %s", store.ErrInvalid, o.Table, tableName)
	}
	switch {
	case o.MaxPayload == 0:
		o.MaxPayload = store.DefaultMaxPayload
	case o.MaxPayload < 0:
		return o, fmt.Errorf("%w: Options.MaxPayload %d is negative", store.ErrInvalid, o.MaxPayload)
	}
	switch {
	case o.SweepInterval == 0:
		o.SweepInterval = DefaultSweepInterval
	case o.SweepInterval < 0:
		return o, fmt.Errorf("%w: Options.SweepInterval %v is negative (use DisableSweeper)", store.ErrInvalid, o.SweepInterval)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
