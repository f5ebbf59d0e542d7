package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/internal/redact"
	"github.com/vedfolnir/sessions/store"
)

// sqliteDefaults are the connection settings Open gives SQLite, unless the
// URL sets them: wait up to 10 s for another process's write lock instead
// of failing, WAL so readers never block the writer, NORMAL sync, and
// foreign keys on.
//
// They are chosen for a session mirror under concurrent writes: in WAL
// mode at synchronous NORMAL a commit is an append to the WAL with no
// fsync (the WAL is synced at each checkpoint), so a commit survives a
// crash of the process, and only a crash of the machine can roll back the
// last ones (set _synchronous=FULL to sync every commit). Writers queue on
// the one pooled connection, and CopyInBatch puts the copies of concurrent
// requests in one transaction, so a busy mirror pays one commit per batch.
var sqliteDefaults = [][2]string{
	{"_busy_timeout", "10000"},
	{"_journal_mode", "WAL"},
	{"_synchronous", "NORMAL"},
	{"_foreign_keys", "1"},
}

// Open opens the database named by a DATABASE_URL-style string and
// returns a store on it (see [New]). Close on the store also closes the
// database.
//
// Like database/sql, Open links no driver: the program registers the one
// the URL needs by importing it, modernc.org/sqlite (driver "sqlite", pure
// Go) for SQLite, github.com/jackc/pgx/v5/stdlib (driver "pgx") for
// PostgreSQL and github.com/go-sql-driver/mysql (driver "mysql") for MySQL
// and MariaDB:
//
//	import _ "modernc.org/sqlite"
//
// Package storage imports all three. Without the driver, Open fails with
// [ErrNoDriver], naming the import. Accepted forms:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL (pgx)
//	postgresql://...                                    PostgreSQL (pgx)
//	mysql://user:pass@host:3306/db                      MySQL or MariaDB
//	mariadb://...                                       the same
//	sqlite:///var/lib/app/sessions.db                   SQLite, absolute path
//	sqlite://sessions.db or sqlite:sessions.db          SQLite, relative path
//	file:sessions.db?mode=rwc                           SQLite URI, passed through
//	/var/lib/app/sessions.db or sessions.db             SQLite, plain path
//	:memory: or sqlite://:memory:                       SQLite in memory
//
// SQLite gets busy_timeout 10 s, WAL, synchronous NORMAL and foreign keys
// unless the URL's query sets them (modernc.org/sqlite's _busy_timeout,
// _journal_mode, _synchronous, _foreign_keys). Its pool is limited to one
// connection: SQLite allows one writer at a time anyway, and queueing in
// database/sql (which honours contexts) beats every writer polling the
// file lock, so concurrent writers never see "database is locked"; it also
// keeps ":memory:" one database, where each connection would otherwise get
// its own. busy_timeout still covers other processes on the same file.
//
// A mysql:// URL becomes a go-sql-driver/mysql DSN over TCP (port 3306
// unless given; the database is required) with a 10 s connect timeout,
// 30 s read and write timeouts and client-side parameter interpolation
// (one round trip per statement) unless the query sets them; other query
// parameters pass through to the driver (tls=true, charset, or a system
// variable to set). parseTime and multiStatements must stay off: the
// store needs neither, and multiple statements would widen any injection.
// Pooled connections are recycled after 3 minutes, before a server or
// proxy drops idle ones.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	db, driverName, err := openDB(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("dbstore: open: %w", err)
	}
	opts.CloseDB = true
	if opts.Dialect == DialectAuto {
		opts.Dialect = dialectOfDriver[driverName]
	}
	s, err := New(ctx, db, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// OpenDB opens the database named by a DATABASE_URL-style string as [Open]
// does (the same forms, drivers and connection settings) without making a
// store: for other tables on the same database, such as an audit trail.
// It does not connect; the caller closes the database.
func OpenDB(databaseURL string) (*sql.DB, error) {
	db, _, err := openDB(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("dbstore: open: %w", err)
	}
	return db, nil
}

func openDB(databaseURL string) (*sql.DB, string, error) {
	driverName, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, "", err
	}
	if !slices.Contains(sql.Drivers(), driverName) {
		return nil, "", noDriver(driverName)
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil && driverName == "mysql" {
		// go-sql-driver/mysql checks its parameters here; its messages
		// name the parameter, never the password.
		return nil, "", fmt.Errorf("%w: database URL (DATABASE_URL): %w", store.ErrInvalid, err)
	}
	if err != nil {
		return nil, "", unavailable(err)
	}
	switch driverName {
	case "sqlite":
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	case "mysql":
		db.SetConnMaxLifetime(3 * time.Minute)
	}
	return db, driverName, nil
}

// ErrNoDriver is returned by [Open] when the program has not registered
// the database/sql driver the URL needs.
var ErrNoDriver = errors.New("database/sql driver not registered")

// driverImports are the imports that register Open's drivers.
var driverImports = map[string]string{"sqlite": "modernc.org/sqlite", "pgx": "github.com/jackc/pgx/v5/stdlib",
	"mysql": "github.com/go-sql-driver/mysql"}

// dialectOfDriver is the engine behind each of Open's drivers.
var dialectOfDriver = map[string]Dialect{"sqlite": SQLite, "pgx": Postgres, "mysql": MySQL}

func noDriver(name string) error {
	return fmt.Errorf("%w: %q: add import _ %q to the program (package storage links every driver)", ErrNoDriver, name, driverImports[name])
}

const urlForms = "want postgres://, postgresql://, mysql://, sqlite://, file: or a file path"

// parseURL maps a DATABASE_URL-style string to a driver name and DSN.
// Errors never repeat the URL: it may hold a password.
func parseURL(raw string) (driverName, dsn string, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", fmt.Errorf("%w: empty database URL (DATABASE_URL): %s", store.ErrInvalid, urlForms)
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return "", "", fmt.Errorf("%w: database URL (DATABASE_URL) is not a valid postgres:// URL", store.ErrInvalid)
		}
		return "pgx", s, nil
	case strings.HasPrefix(lower, "mysql://"), strings.HasPrefix(lower, "mariadb://"):
		dsn, err := mysqlDSN(s)
		return "mysql", dsn, err
	case strings.HasPrefix(lower, "sqlite:"):
		rest := s[len("sqlite:"):]
		rest = strings.TrimPrefix(rest, "//")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			// Not quoted: the query may hold anything, a password included.
			return "", "", fmt.Errorf("%w: database URL (DATABASE_URL) names no SQLite file: use sqlite:///path/to/file.db", store.ErrInvalid)
		}
		dsn, err := sqliteDSN("file:"+escapePath(path), query)
		return "sqlite", dsn, err
	case strings.HasPrefix(lower, "file:"):
		path, query, _ := strings.Cut(s, "?")
		dsn, err := sqliteDSN(path, query)
		return "sqlite", dsn, err
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		if !redact.ValidScheme(scheme) {
			// Not a scheme at all: it may hold anything, a password included.
			return "", "", fmt.Errorf("%w: database URL (DATABASE_URL) has a malformed scheme: %s", store.ErrInvalid, urlForms)
		}
		return "", "", fmt.Errorf("%w: unsupported database URL (DATABASE_URL) scheme %q: %s", store.ErrInvalid, scheme, urlForms)
	}
	// A plain path (or ":memory:").
	dsn, err = sqliteDSN("file:"+escapePath(s), "")
	return "sqlite", dsn, err
}

// escapePath makes a file path safe inside a SQLite "file:" URI.
func escapePath(p string) string {
	if p == ":memory:" {
		return p
	}
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// sqliteDSN appends the connection defaults the query does not set.
func sqliteDSN(uri, query string) (string, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("%w: database URL (DATABASE_URL) has a malformed query", store.ErrInvalid)
	}
	var add []string
	for _, kv := range sqliteDefaults {
		if !q.Has(kv[0]) && !hasPragma(q, strings.TrimPrefix(kv[0], "_")) {
			add = append(add, kv[0]+"="+kv[1])
		}
	}
	parts := add
	if query != "" {
		parts = append(parts, query)
	}
	if len(parts) == 0 {
		return uri, nil
	}
	return uri + "?" + strings.Join(parts, "&"), nil
}

// hasPragma reports whether the query sets PRAGMA name through _pragma.
func hasPragma(q url.Values, name string) bool {
	for _, p := range q["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
			return true
		}
	}
	return false
}
