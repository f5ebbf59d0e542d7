package testserver

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Every MySQL caller gets a database of its own, usable through both
// forms, empty at first and dropped when the test ends.
func TestMySQL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var first string
	t.Run("first", func(t *testing.T) {
		raw := MySQL(t)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "mysql" || u.User == nil {
			t.Fatalf("MySQL() = %q (%v): want mysql://user:pass@host/db", raw, err)
		}
		first = strings.TrimPrefix(u.Path, "/")
		if !strings.HasPrefix(first, "t_") {
			t.Fatalf("database %q: want a t_ database", first)
		}
		db := openMySQLDB(t, MySQLDSN(t))
		if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k VARCHAR(8) PRIMARY KEY, v INT)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO kv VALUES ('a', 1)"); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := db.QueryRowContext(ctx, "SELECT v FROM kv").Scan(&v); err != nil || v != 1 {
			t.Fatalf("SELECT = %d, %v", v, err)
		}
		// The URL names the same server; its own database is another.
		cfg, err := mysqlConfig(raw)
		if err != nil || cfg.DBName != first {
			t.Fatalf("mysqlConfig(%q) = %+v, %v", raw, cfg, err)
		}
		var cur string
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&cur); err != nil || cur == first {
			t.Fatalf("MySQLDSN's database %q, %v: want one other than MySQL's %q", cur, err, first)
		}
	})
	dsn := MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ParseTime || cfg.MultiStatements {
		t.Errorf("DSN %s: parseTime or multiStatements on", cfg.Addr)
	}
	db := openMySQLDB(t, dsn)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", first).Scan(&n); err != nil || n != 0 {
		t.Errorf("database of the finished subtest: %d left, %v; want it dropped", n, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil || n != 0 {
		t.Errorf("fresh database has %d tables, %v; want 0", n, err)
	}
}

func TestMySQLConfig(t *testing.T) {
	for _, tc := range []struct{ in, addr, user, pass, db string }{
		{"mysql://u:p%40w@127.0.0.1:3307/d", "127.0.0.1:3307", "u", "p@w", "d"},
		{"MYSQL://h/d", "h:3306", "", "", "d"},
		{"mysql://u@[::1]/d", "[::1]:3306", "u", "", "d"},
	} {
		cfg, err := mysqlConfig(tc.in)
		if err != nil || cfg.Addr != tc.addr || cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.DBName != tc.db {
			t.Errorf("mysqlConfig(%q) = %+v, %v", tc.in, cfg, err)
		}
	}
	for _, bad := range []string{"postgres://h/d", "mysql://[::1", "h:3306"} {
		if _, err := mysqlConfig(bad); err == nil {
			t.Errorf("mysqlConfig(%q): no error", bad)
		}
	}
}

func openMySQLDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Without the binaries, the start reports what to install (the shared
// helper then skips, or fails under CI or REQUIRE_SERVICES).
func TestMySQLMissingBinary(t *testing.T) {
	dirs := mysqlDirs
	t.Cleanup(func() { mysqlDirs = dirs })
	mysqlDirs = []string{t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	mp, skip, err := startMySQLProc("mysql-missing")
	if mp != nil || err != nil || !strings.Contains(skip, "apt-get install mariadb-server") {
		t.Fatalf("startMySQLProc without binaries: %v, %q, %v; want a skip naming mariadb-server", mp, skip, err)
	}
}
