package dbstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// openSQLite opens a store on a fresh SQLite file through Open.
func openSQLite(t testing.TB, opts dbstore.Options) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openPostgres opens a store in a fresh PostgreSQL schema.
func openPostgres(t testing.TB, opts dbstore.Options) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), testserver.Postgres(t), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// The race case runs 50 writers; a bounded pool keeps the shared
	// server's connection count sane while they still race.
	s.DB().SetMaxOpenConns(12)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openMySQL opens a store in a fresh MariaDB (or MySQL) database through
// Open and a mysql:// URL.
func openMySQL(t testing.TB, opts dbstore.Options) *dbstore.Store {
	t.Helper()
	return openMySQLQuery(t, opts, "")
}

// openMySQLQuery is openMySQL with a query string for the URL.
func openMySQLQuery(t testing.TB, opts dbstore.Options, query string) *dbstore.Store {
	t.Helper()
	u := testserver.MySQL(t)
	if query != "" {
		u += "?" + query
	}
	s, err := dbstore.Open(context.Background(), u, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.DB().SetMaxOpenConns(12)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformanceSQLiteFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, dbstore.Options{})
	}, storetest.Options{})
}

// An in-memory database works because Open limits SQLite to one
// connection: each connection to ":memory:" is a database of its own.
func TestConformanceSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := dbstore.Open(context.Background(), ":memory:", dbstore.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storetest.Options{})
}

// A caller's own SQLite pool with several connections (WAL and a busy
// timeout, as New documents) passes too: racing writers wait for the lock
// instead of failing.
func TestConformanceSQLitePool(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn := "file:" + filepath.Join(t.TempDir(), "pool.db") + "?_busy_timeout=10000&_journal_mode=WAL"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(8)
		t.Cleanup(func() { _ = db.Close() })
		s, err := dbstore.New(context.Background(), db, dbstore.Options{Table: "pool_sessions", MaxPayload: 4096})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storetest.Options{MaxPayload: 4096})
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, dbstore.Options{})
	}, storetest.Options{})
}

func TestConformanceMySQL(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openMySQL(t, dbstore.Options{})
	}, storetest.Options{})
}

// withParam adds a parameter to a go-sql-driver/mysql DSN.
func withParam(dsn, kv string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + kv
	}
	return dsn + "?" + kv
}

// The store quotes with backticks, which every sql_mode accepts: with
// ANSI_QUOTES (where "x" is an identifier) and without (where it is a
// string), the suite passes alike.
func TestConformanceMySQLANSIQuotes(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openMySQLQuery(t, dbstore.Options{}, "sql_mode=%27ANSI_QUOTES,STRICT_ALL_TABLES%27")
		var mode string
		if err := s.DB().QueryRowContext(t.Context(), "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil || !strings.Contains(mode, "ANSI_QUOTES") {
			t.Fatalf("sql_mode %q, %v: want ANSI_QUOTES", mode, err)
		}
		return s
	}, storetest.Options{})
}

// A wrong password is ErrUnavailable, and the error does not repeat it.
func TestMySQLWrongPassword(t *testing.T) {
	u, err := url.Parse(testserver.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "wrong-pw-7f3a")
	_, err = dbstore.Open(context.Background(), u.String(), dbstore.Options{})
	if !errors.Is(err, store.ErrUnavailable) || strings.Contains(err.Error(), "wrong-pw-7f3a") {
		t.Fatalf("Open with a wrong password: %v; want ErrUnavailable without the password", err)
	}
	t.Logf("error: %v", err)
}
