package dbstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// clock is a settable clock for Options.Now.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }
func ctxT(t testing.TB) context.Context  { return t.Context() }
func count(t testing.TB, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctxT(t), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// engines runs f on SQLite, and on PostgreSQL and MariaDB when a server is
// available.
func engines(t *testing.T, f func(t *testing.T, open func(t testing.TB, opts dbstore.Options) *dbstore.Store, dsn func(t testing.TB) string)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		f(t, openSQLite, func(testing.TB) string { return filepath.Join(dir, "shared.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		var once sync.Once
		var shared string
		f(t, openPostgres, func(t testing.TB) string {
			once.Do(func() { shared = testserver.Postgres(t) })
			return shared
		})
	})
	t.Run("mysql", func(t *testing.T) {
		var once sync.Once
		var shared string
		f(t, openMySQL, func(t testing.TB) string {
			once.Do(func() { shared = testserver.MySQL(t) })
			return shared
		})
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	engines(t, func(t *testing.T, _ func(testing.TB, dbstore.Options) *dbstore.Store, dsn func(testing.TB) string) {
		url := dsn(t)
		s1, err := dbstore.Open(ctxT(t), url, dbstore.Options{DisableSweeper: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		e := storetest.NewEntry("u")
		if err := s1.Put(ctxT(t), e, 0); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			s2, err := dbstore.New(ctxT(t), s1.DB(), dbstore.Options{DisableSweeper: true})
			if err != nil {
				t.Fatalf("New again: %v", err)
			}
			if _, err := s2.Get(ctxT(t), e.Key); err != nil {
				t.Fatalf("entry lost after migrating again: %v", err)
			}
			_ = s2.Close()
		}
		if n := count(t, s1.DB(), "SELECT count(*) FROM sessions_migrations"); n != 1 {
			t.Errorf("sessions_migrations holds %d rows, want 1", n)
		}
	})
}

// Several processes starting at once: each has its own *sql.DB on the
// same database, and all migrate together.
func TestMigrationsConcurrent(t *testing.T) {
	engines(t, func(t *testing.T, _ func(testing.TB, dbstore.Options) *dbstore.Store, dsn func(testing.TB) string) {
		url := dsn(t)
		const procs = 8
		var wg sync.WaitGroup
		errs := make([]error, procs)
		stores := make([]*dbstore.Store, procs)
		start := make(chan struct{})
		for i := range procs {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = dbstore.Open(ctxT(t), url, dbstore.Options{Table: "race_sessions", DisableSweeper: true})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open #%d: %v", i, err)
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		if n := count(t, stores[0].DB(), "SELECT count(*) FROM race_sessions_migrations"); n != 1 {
			t.Errorf("race_sessions_migrations holds %d rows, want 1", n)
		}
		// Every "process" sees the others' writes.
		e := storetest.NewEntry("u")
		if err := stores[0].Put(ctxT(t), e, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[procs-1].Get(ctxT(t), e.Key); err != nil {
			t.Errorf("Get through another store: %v", err)
		}
		// And several stores on one *sql.DB migrate at once too.
		var wg2 sync.WaitGroup
		for range 4 {
			wg2.Go(func() {
				s, err := dbstore.New(ctxT(t), stores[0].DB(), dbstore.Options{Table: "race2", DisableSweeper: true})
				if err != nil {
					t.Errorf("New on a shared *sql.DB: %v", err)
					return
				}
				_ = s.Close()
			})
		}
		wg2.Wait()
	})
}

func TestSweeper(t *testing.T) {
	engines(t, func(t *testing.T, open func(testing.TB, dbstore.Options) *dbstore.Store, _ func(testing.TB) string) {
		var clk clock
		swept := make(chan int, 100)
		s := open(t, dbstore.Options{
			Now:           clk.Now,
			SweepInterval: 20 * time.Millisecond,
			OnSweep: func(n int, err error) {
				if err != nil {
					t.Errorf("sweep: %v", err)
				}
				swept <- n
			},
		})
		live := storetest.NewEntry("u")
		live.IdleDeadline = live.AbsoluteDeadline
		if err := s.Put(ctxT(t), live, 0); err != nil {
			t.Fatal(err)
		}
		const dying = 5
		for range dying {
			if err := s.Put(ctxT(t), storetest.NewEntry("u"), 0); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Hour) // past the idle deadline of the dying ones
		total := 0
		deadline := time.After(20 * time.Second)
		for total < dying {
			select {
			case n := <-swept:
				total += n
			case <-deadline:
				t.Fatalf("sweeper deleted %d rows in 20s, want %d", total, dying)
			}
		}
		if n := count(t, s.DB(), "SELECT count(*) FROM sessions"); n != 1 {
			t.Errorf("%d rows left, want 1 (the live entry)", n)
		}
		if _, err := s.Get(ctxT(t), live.Key); err != nil {
			t.Errorf("live entry: %v", err)
		}
	})
}

// Sweep deletes in batches and goes on until nothing expired is left.
func TestSweepBatches(t *testing.T) {
	var clk clock
	s := openSQLite(t, dbstore.Options{Now: clk.Now, DisableSweeper: true})
	const rows = 2345
	tx, err := s.DB().BeginTx(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if _, err := tx.Exec(`INSERT INTO sessions (key, version, created, last_activity, idle_deadline, absolute_deadline, deadline, payload)
			VALUES (?, 1, 0, 0, ?, ?, ?, x'')`, fmt.Sprintf("k%05d", i), i, i, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(ctxT(t))
	if err != nil || n != rows {
		t.Fatalf("Sweep: %d, %v; want %d, nil", n, err, rows)
	}
	if n, err := s.Sweep(ctxT(t)); err != nil || n != 0 {
		t.Fatalf("second Sweep: %d, %v; want 0, nil", n, err)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	// Let goroutines of earlier tests settle.
	before := settledGoroutines(-1)
	var stores []*dbstore.Store
	for range 5 {
		stores = append(stores, openSQLite(t, dbstore.Options{SweepInterval: time.Millisecond}))
	}
	time.Sleep(20 * time.Millisecond)
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if after := settledGoroutines(before); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits up to 5s for the goroutine count to reach want
// (or to stop changing when want < 0) and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want >= 0 && m <= want) || (want < 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}

func TestCloseOwnership(t *testing.T) {
	opened := openSQLite(t, dbstore.Options{})
	if err := opened.Close(); err != nil {
		t.Fatal(err)
	}
	if err := opened.DB().Ping(); err == nil {
		t.Error("Close of a store made by Open left its database open")
	}
	_, err := opened.Get(ctxT(t), storetest.NewEntry("").Key)
	if !errors.Is(err, store.ErrUnavailable) || !strings.HasPrefix(err.Error(), "dbstore: get: ") {
		t.Errorf("Get after Close: %v; want a dbstore: get: error matching ErrUnavailable", err)
	}

	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "own.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := dbstore.New(ctxT(t), db, dbstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Errorf("Close of a store made by New closed the caller's database: %v", err)
	}
}

func TestOpenURLForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		url  string
		file string // the file the URL must create, relative to dir; "" for memory
	}{
		{"sqlite://" + filepath.Join(dir, "abs.db"), "abs.db"},
		{"sqlite://rel.db", "rel.db"},
		{"sqlite:short.db", "short.db"},
		{"SQLite:///" + strings.TrimPrefix(filepath.Join(dir, "upper.db"), "/"), "upper.db"},
		{"file:" + filepath.Join(dir, "uri.db") + "?mode=rwc", "uri.db"},
		{"file:relative-uri.db", "relative-uri.db"},
		{filepath.Join(dir, "plain.db"), "plain.db"},
		{"plain-relative.db", "plain-relative.db"},
		{filepath.Join(dir, "odd?name#with%chars.db"), "odd?name#with%chars.db"},
		{"sqlite://" + filepath.Join(dir, "opts.db") + "?_busy_timeout=1234", "opts.db"},
		{":memory:", ""},
		{"sqlite://:memory:", ""},
		{"sqlite::memory:", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			s, err := dbstore.Open(ctxT(t), tc.url, dbstore.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			e := storetest.NewEntry("u")
			if err := s.Put(ctxT(t), e, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctxT(t), e.Key); err != nil {
				t.Fatal(err)
			}
			var busy int
			if err := s.DB().QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
				t.Fatal(err)
			}
			want := 10000
			if strings.Contains(tc.url, "_busy_timeout=1234") {
				want = 1234
			}
			if busy != want {
				t.Errorf("busy_timeout = %d, want %d", busy, want)
			}
			if tc.file == "" {
				return
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); err != nil {
				t.Errorf("database file not where the URL says: %v", err)
			}
			var mode string
			if err := s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
		})
	}
	for _, scheme := range []string{"mysql://", "mariadb://", "MySQL://"} {
		t.Run(scheme, func(t *testing.T) {
			raw := testserver.MySQL(t)
			s, err := dbstore.Open(ctxT(t), scheme+strings.TrimPrefix(raw, "mysql://"), dbstore.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			var version string
			if err := s.DB().QueryRowContext(ctxT(t), "SELECT VERSION()").Scan(&version); err != nil {
				t.Fatal(err)
			}
			t.Logf("server %s", version)
		})
	}
	t.Run("postgresql://", func(t *testing.T) {
		dsn := testserver.Postgres(t)
		s, err := dbstore.Open(ctxT(t), "postgresql://"+strings.TrimPrefix(dsn, "postgres://"), dbstore.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if err := s.Ping(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpenBadURLs(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"", "empty database URL"},
		{"   ", "empty database URL"},
		{"mysql://user:s3cret@host/", "no database name"},
		{"mysql://user:s3cret@host", "no database name"},
		{"mysql://user:s3cret@host:99999/db", "port out of range"},
		{"mysql://user:s3cret@host:0/db", "port out of range"},
		{"mysql://user:s3cret@host/db?multiStatements=true", "sets multiStatements"},
		{"MYSQL://user:s3cret@host/db?parseTime=1", "sets parseTime"},
		{"mysql://user:s3cret@host/db?a=%zz", "malformed query"},
		{"mysql://user:s3cret@host/db?bad-name=1", "malformed query parameter name"},
		{"mysql://user:s3cret@host/a/b", "malformed database name"},
		{"mysql://user:s3cret@host/db#frag", "malformed"},
		{"mariadb://user:s3cret@[::1/db", "not a valid mysql:// URL"},
		{"mysqlx://user:s3cret@host/db", `scheme "mysqlx"`},
		{"mysql://user:s3cret@host/db?timeout=soon", "invalid duration"},
		{"redis://:s3cret@localhost:6379/0", `scheme "redis"`},
		{"sqlite://", "names no SQLite file"},
		{"sqlite:", "names no SQLite file"},
		{"file:x.db?a=%zz", "malformed query"},
		{"postgres://user:s3cret@host:5432/db%zz", "not a valid postgres:// URL"},
	} {
		_, err := dbstore.Open(ctxT(t), tc.url, dbstore.Options{})
		switch {
		case err == nil:
			t.Errorf("Open(%q): no error", tc.url)
		case !errors.Is(err, store.ErrInvalid):
			t.Errorf("Open(%q): %v; want ErrInvalid", tc.url, err)
		case !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "dbstore: open: "):
			t.Errorf("Open(%q): %q; want it to contain %q", tc.url, err, tc.want)
		case strings.Contains(err.Error(), "s3cret"):
			t.Errorf("Open(%q): error repeats the password: %q", tc.url, err)
		}
	}
	// A path in a missing directory is a clean error, not a panic.
	_, err := dbstore.Open(ctxT(t), "sqlite://"+filepath.Join(t.TempDir(), "missing", "dir", "x.db"), dbstore.Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open in a missing directory: %v; want ErrUnavailable", err)
	}
}

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake") }

func init() { sql.Register("dbstore-fake", fakeDriver{}) }

func TestNewValidates(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fake, _ := sql.Open("dbstore-fake", "")
	for _, tc := range []struct {
		name string
		db   *sql.DB
		opts dbstore.Options
	}{
		{"nil db", nil, dbstore.Options{}},
		{"unsupported driver", fake, dbstore.Options{}},
		{"upper case table", db, dbstore.Options{Table: "Sessions"}},
		{"table starting with a digit", db, dbstore.Options{Table: "1sessions"}},
		{"table with a dash", db, dbstore.Options{Table: "my-sessions"}},
		{"table with SQL", db, dbstore.Options{Table: "s; DROP TABLE x"}},
		{"quoted table", db, dbstore.Options{Table: `"s"`}},
		{"schema-qualified table", db, dbstore.Options{Table: "public.sessions"}},
		{"table too long", db, dbstore.Options{Table: strings.Repeat("a", 49)}},
		{"negative MaxPayload", db, dbstore.Options{MaxPayload: -1}},
		{"negative SweepInterval", db, dbstore.Options{SweepInterval: -time.Second}},
	} {
		s, err := dbstore.New(ctxT(t), tc.db, tc.opts)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: New: %v; want ErrInvalid", tc.name, err)
		}
		if s != nil {
			_ = s.Close()
		}
	}
	s, err := dbstore.New(ctxT(t), db, dbstore.Options{Table: strings.Repeat("a", 48), DisableSweeper: true})
	if err != nil {
		t.Errorf("New with a 48-byte table name: %v", err)
	} else {
		_ = s.Close()
	}
}

// Reserved words work as table names, and two tables in one database
// never see each other's entries.
func TestTables(t *testing.T) {
	engines(t, func(t *testing.T, _ func(testing.TB, dbstore.Options) *dbstore.Store, dsn func(testing.TB) string) {
		url := dsn(t)
		a, err := dbstore.Open(ctxT(t), url, dbstore.Options{Table: "user", DisableSweeper: true})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := dbstore.Open(ctxT(t), url, dbstore.Options{Table: "select", DisableSweeper: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		e := storetest.NewEntry("u")
		if err := a.Put(ctxT(t), e, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctxT(t), e.Key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("table select sees table user's entry: %v", err)
		}
		if err := b.Put(ctxT(t), e, 0); err != nil {
			t.Errorf("same key in another table: %v", err)
		}
		if list, err := b.ListUser(ctxT(t), "u"); err != nil || len(list) != 1 {
			t.Errorf("ListUser on table select: %d, %v", len(list), err)
		}
	})
}

// The store judges expiry by Options.Now.
func TestNowOption(t *testing.T) {
	var clk clock
	s := openSQLite(t, dbstore.Options{Now: clk.Now})
	e := storetest.NewEntry("u")
	if err := s.Put(ctxT(t), e, 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(29 * time.Minute)
	if _, err := s.Get(ctxT(t), e.Key); err != nil {
		t.Fatalf("Get before the idle deadline: %v", err)
	}
	clk.Advance(time.Minute)
	if _, err := s.Get(ctxT(t), e.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get at the idle deadline: %v; want ErrNotFound", err)
	}
}

// Rows a third party wrote badly never panic the store: reads report
// ErrCorrupt (or ErrNotFound), and the index and the sweeper carry on.
func TestCorruptRows(t *testing.T) {
	s := openSQLite(t, dbstore.Options{DisableSweeper: true})
	now := time.Now().UnixMilli()
	later := now + int64(time.Hour/time.Millisecond)
	uid := []byte("victim")
	sum := sha256.Sum256(uid) // the index column the store computes
	hash := sum[:]
	rows := []struct {
		name string
		vals []any // version, created, last_activity, idle, absolute, deadline, payload
	}{
		{"text version", []any{"abc", now, now, later, later, later, []byte("x")}},
		{"zero version", []any{0, now, now, later, later, later, []byte("x")}},
		{"negative version", []any{-5, now, now, later, later, later, []byte("x")}},
		{"blob time", []any{1, []byte{1, 2, 3}, now, later, later, later, []byte("x")}},
		{"text time", []any{1, "yesterday", now, later, later, later, []byte("x")}},
		{"real time", []any{1, 1.5, now, later, later, later, []byte("x")}},
		{"text payload", []any{1, now, now, later, later, later, "not a blob"}},
		{"null payload", []any{1, now, now, later, later, later, nil}},
		{"deadline column lies", []any{1, now, now, now - 1000, later, later, []byte("x")}},
		{"huge times", []any{1, int64(1) << 62, int64(-1) << 62, later, later, later, []byte("x")}},
	}
	var keys []string
	for _, r := range rows {
		k := storetest.NewEntry("").Key
		keys = append(keys, k)
		args := append([]any{k, uid, hash}, r.vals...)
		if _, err := s.DB().Exec(`INSERT INTO sessions (key, user_id, user_hash, version, created, last_activity,
			idle_deadline, absolute_deadline, deadline, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
			t.Fatalf("%s: insert: %v", r.name, err)
		}
	}
	for i, k := range keys {
		e, err := s.Get(ctxT(t), k)
		switch {
		case err == nil:
			t.Logf("%s: read as version %d, %d payload bytes", rows[i].name, e.Version, len(e.Payload))
		case errors.Is(err, store.ErrCorrupt), errors.Is(err, store.ErrNotFound):
		default:
			t.Errorf("%s: Get: %v; want ErrCorrupt, ErrNotFound or an entry", rows[i].name, err)
		}
		if e != nil && e.Expired(time.Now()) {
			t.Errorf("%s: Get returned an expired entry", rows[i].name)
		}
		_, _ = s.GetTouch(ctxT(t), k, time.Now(), time.Hour, time.Now())
		_ = s.Touch(ctxT(t), k, time.Now(), time.Now().Add(time.Hour))
		_, _ = s.CopyIn(ctxT(t), storetest.NewEntry("x"))
	}
	if _, err := s.ListUser(ctxT(t), "victim"); err != nil && !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ListUser: %v; want nil or ErrCorrupt", err)
	}
	if _, err := s.Sweep(ctxT(t)); err != nil {
		t.Errorf("Sweep: %v", err)
	}
	if _, err := s.DeleteUser(ctxT(t), "victim", ""); err != nil {
		t.Errorf("DeleteUser: %v", err)
	}
	if n := count(t, s.DB(), "SELECT count(*) FROM sessions WHERE user_id = CAST('victim' AS BLOB)"); n != 0 {
		t.Errorf("%d corrupt rows survive DeleteUser", n)
	}
}

// Errors keep both the store's sentinel and the driver's cause.
func TestErrorsWrap(t *testing.T) {
	s := openSQLite(t, dbstore.Options{})
	_, err := s.Get(ctxT(t), storetest.NewEntry("").Key)
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Get missing: %v; want ErrNotFound without sql.ErrNoRows", err)
	}
	if !strings.HasPrefix(err.Error(), "dbstore: get: ") {
		t.Errorf("Get missing: %q lacks the dbstore: get: prefix", err)
	}
	e := storetest.NewEntry("u")
	e.Version = 2
	err = s.Put(ctxT(t), e, 1)
	if !errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "dbstore: put: ") {
		t.Errorf("Put missing: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctxT(t))
	cancel()
	err = s.Put(cancelled, storetest.NewEntry("u"), 0)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Put on a cancelled context: %v; want ErrUnavailable and context.Canceled", err)
	}
	e = storetest.NewEntry("u")
	e.Version = 1 << 63
	if err := s.Put(ctxT(t), e, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Put with a version above int64: %v; want ErrInvalid", err)
	}
}
