// Package sqlmigrate applies versioned schema migrations recorded in a
// table of their own. The callers (dbstore, audit) take the lock that makes
// it safe from several processes (a PostgreSQL advisory lock in the
// migration's transaction, SQLite's BEGIN IMMEDIATE) and pass the
// transaction or connection that holds it.
package sqlmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Execer is a transaction or connection holding the migration lock.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Migration is one schema version.
type Migration struct {
	Version int
	Doc     string
	Stmts   []string
}

// Dialect is what the applier needs to know of the database.
type Dialect struct {
	BigInt string                // the 64-bit integer type
	Rebind func(q string) string // turns ? placeholders into the driver's
}

// Apply creates the migrations table (quoted name mt) if needed and runs,
// in order, every migration it does not record yet, recording each.
func Apply(ctx context.Context, x Execer, d Dialect, mt string, ms []Migration, now time.Time) error {
	if _, err := x.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+mt+
		" (version INTEGER NOT NULL PRIMARY KEY, applied "+d.BigInt+" NOT NULL, doc TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("create %s: %w", mt, err)
	}
	rows, err := x.QueryContext(ctx, "SELECT version FROM "+mt)
	if err != nil {
		return fmt.Errorf("read %s: %w", mt, err)
	}
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read %s: %w", mt, err)
		}
		done[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", mt, err)
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		for _, stmt := range m.Stmts {
			if _, err := x.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %d: %w", m.Version, err)
			}
		}
		if _, err := x.ExecContext(ctx, d.Rebind("INSERT INTO "+mt+" (version, applied, doc) VALUES (?, ?, ?)"),
			m.Version, now.UnixMilli(), m.Doc); err != nil {
			return fmt.Errorf("record migration %d: %w", m.Version, err)
		}
	}
	return nil
}
