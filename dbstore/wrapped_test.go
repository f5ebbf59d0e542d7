package dbstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// hookedConnector wraps a real driver the way otelsql and sqlhooks do: a
// connector of another package whose type names no engine, counting the
// connections it opens (the hook).
type hookedConnector struct {
	dsn   string
	drv   driver.Driver
	opens *atomic.Int64
}

func (c hookedConnector) Connect(context.Context) (driver.Conn, error) {
	c.opens.Add(1)
	return c.drv.Open(c.dsn)
}

func (c hookedConnector) Driver() driver.Driver { return hookedDriver{c} }

type hookedDriver struct{ c hookedConnector }

func (d hookedDriver) Open(string) (driver.Conn, error) { return d.c.Connect(context.Background()) }

// A *sql.DB from a wrapping driver hides the engine: New refuses it with
// ErrInvalid naming Options.Dialect, and works when told the dialect, on
// SQLite and PostgreSQL, through the whole conformance suite.
func TestWrappedDriver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect dbstore.Dialect
		drv     driver.Driver
		dsn     func(t testing.TB) string
	}{
		{"sqlite", dbstore.SQLite, &sqlite.Driver{}, func(t testing.TB) string {
			return "file:" + filepath.Join(t.TempDir(), "w.db") + "?_busy_timeout=10000&_journal_mode=WAL"
		}},
		{"postgres", dbstore.Postgres, stdlib.GetDefaultDriver(), func(t testing.TB) string { return testserver.Postgres(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opens atomic.Int64
			wrapped := func(t testing.TB) *sql.DB {
				db := sql.OpenDB(hookedConnector{dsn: tc.dsn(t), drv: tc.drv, opens: &opens})
				t.Cleanup(func() { _ = db.Close() })
				db.SetMaxOpenConns(8)
				return db
			}
			_, err := dbstore.New(t.Context(), wrapped(t), dbstore.Options{DisableSweeper: true})
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "Options.Dialect") {
				t.Fatalf("New without a dialect: %v; want ErrInvalid naming Options.Dialect", err)
			}
			storetest.Run(t, func(t *testing.T) store.Store {
				s, err := dbstore.New(t.Context(), wrapped(t), dbstore.Options{Dialect: tc.dialect})
				if err != nil {
					t.Fatalf("New with Dialect %q: %v", tc.dialect, err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}, storetest.Options{})
			if opens.Load() == 0 {
				t.Fatal("the wrapping driver's hook never ran")
			}
		})
	}
	t.Run("unknown dialect", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "u.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_, err = dbstore.New(t.Context(), db, dbstore.Options{Dialect: "oracle"})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"oracle"`) {
			t.Fatalf("New with Dialect oracle: %v; want ErrInvalid naming it", err)
		}
	})
}

// A program that imports dbstore but registers no driver gets ErrNoDriver
// from Open, with the import it needs, and links neither modernc.org/sqlite
// nor pgx.
func TestOpenWithoutDriver(t *testing.T) {
	dir := t.TempDir()
	prog := `package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vedfolnir/sessions/dbstore"
)

func main() {
	_, err := dbstore.Open(context.Background(), os.Args[1], dbstore.Options{})
	fmt.Println(errors.Is(err, dbstore.ErrNoDriver), err)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nodriver")
	build := exec.Command("go", "build", "-o", bin, filepath.Join(dir, "main.go"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for url, want := range map[string]string{
		filepath.Join(dir, "s.db"):      `add import _ "modernc.org/sqlite"`,
		"postgres://u:p@127.0.0.1:1/db": `add import _ "github.com/jackc/pgx/v5/stdlib"`,
	} {
		out, err := exec.Command(bin, url).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "true ") || !strings.Contains(string(out), want) {
			t.Errorf("Open(%q) without drivers: %s (%v); want ErrNoDriver saying %s", url, out, err, want)
		}
	}
	deps, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, deps)
	}
	for _, mod := range []string{"modernc.org/sqlite", "github.com/jackc/pgx"} {
		if strings.Contains(string(deps), mod) {
			t.Errorf("a program importing only dbstore links %s:\n%s", mod, deps)
		}
	}
}
