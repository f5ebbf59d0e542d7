package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"slices"

	"github.com/vedfolnir/sessions/store"
)

// sqliteDefaults are the connection settings Open gives SQLite, unless the
// URL sets them: wait up to 10 s for another process's write lock instead
// of failing, WAL so readers never block the writer, NORMAL sync (durable
// at each checkpoint, safe under WAL), and foreign keys on.
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
// Go) for SQLite and github.com/jackc/pgx/v5/stdlib (driver "pgx") for
// PostgreSQL:
//
//	import _ "modernc.org/sqlite"
//
// Package storage imports both. Without the driver, Open fails with
// [ErrNoDriver], naming the import. Accepted forms:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL (pgx)
//	postgresql://...                                    PostgreSQL (pgx)
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
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	driverName, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("dbstore: open: %w", err)
	}
	if !slices.Contains(sql.Drivers(), driverName) {
		return nil, fmt.Errorf("dbstore: open: %w", noDriver(driverName))
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("dbstore: open: %w", unavailable(err))
	}
	if driverName == "sqlite" {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
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

// ErrNoDriver is returned by [Open] when the program has not registered
// the database/sql driver the URL needs.
var ErrNoDriver = errors.New("database/sql driver not registered")

// driverImports are the imports that register Open's drivers.
var driverImports = map[string]string{"sqlite": "modernc.org/sqlite", "pgx": "github.com/jackc/pgx/v5/stdlib"}

// dialectOfDriver is the engine behind each of Open's drivers.
var dialectOfDriver = map[string]Dialect{"sqlite": SQLite, "pgx": Postgres}

func noDriver(name string) error {
	return fmt.Errorf("%w: %q: add import _ %q to the program (package storage links every driver)", ErrNoDriver, name, driverImports[name])
}

const urlForms = "want postgres://, postgresql://, sqlite://, file: or a file path"

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
	case strings.HasPrefix(lower, "sqlite:"):
		rest := s[len("sqlite:"):]
		rest = strings.TrimPrefix(rest, "//")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return "", "", fmt.Errorf("%w: database URL (DATABASE_URL) %q names no SQLite file: use sqlite:///path/to/file.db", store.ErrInvalid, "sqlite:"+rest)
		}
		dsn, err := sqliteDSN("file:"+escapePath(path), query)
		return "sqlite", dsn, err
	case strings.HasPrefix(lower, "file:"):
		path, query, _ := strings.Cut(s, "?")
		dsn, err := sqliteDSN(path, query)
		return "sqlite", dsn, err
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		if !validScheme(scheme) {
			// Not a scheme at all: it may hold anything, a password included.
			return "", "", fmt.Errorf("%w: database URL (DATABASE_URL) has a malformed scheme: %s", store.ErrInvalid, urlForms)
		}
		return "", "", fmt.Errorf("%w: unsupported database URL (DATABASE_URL) scheme %q: %s", store.ErrInvalid, scheme, urlForms)
	}
	// A plain path (or ":memory:").
	dsn, err = sqliteDSN("file:"+escapePath(s), "")
	return "sqlite", dsn, err
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" or "."), short enough to quote in an error.
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
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
