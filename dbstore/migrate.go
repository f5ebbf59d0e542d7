package dbstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"github.com/vedfolnir/sessions/internal/sqlmigrate"
	"time"
)

// migration is one schema step. Steps are applied in order, each once, and
// recorded in <table>_migrations; a released step is never edited, only
// followed by a new one.
type migration struct {
	version int
	doc     string
	stmts   func(d dialect, table string) []string
}

var migrations = []migration{
	{
		version: 1,
		doc:     "sessions table, user index, deadline index",
		stmts: func(d dialect, table string) []string {
			t := quote(table)
			return []string{
				// Times are unix milliseconds. deadline = min(idle_deadline,
				// absolute_deadline): what reads filter on and the sweeper
				// deletes by. user_id is binary because a user id may hold
				// any bytes; user_hash (SHA-256 of user_id, NULL for
				// anonymous sessions) keeps the index small whatever the
				// id's length.
				"CREATE TABLE IF NOT EXISTS " + t + " (" +
					"key TEXT NOT NULL PRIMARY KEY, " +
					"version " + d.bigint + " NOT NULL, " +
					"user_id " + d.blob + ", " +
					"user_hash " + d.blob + ", " +
					"created " + d.bigint + " NOT NULL, " +
					"last_activity " + d.bigint + " NOT NULL, " +
					"idle_deadline " + d.bigint + " NOT NULL, " +
					"absolute_deadline " + d.bigint + " NOT NULL, " +
					"deadline " + d.bigint + " NOT NULL, " +
					"payload " + d.blob + ")",
				"CREATE INDEX IF NOT EXISTS " + quote(table+"_user_idx") + " ON " + t +
					" (user_hash, created) WHERE user_hash IS NOT NULL",
				"CREATE INDEX IF NOT EXISTS " + quote(table+"_deadline_idx") + " ON " + t + " (deadline)",
			}
		},
	},
}

// migrate brings the schema up to date. It is safe to run from several
// processes at once: PostgreSQL serialises runs with a transaction-scoped
// advisory lock, SQLite with BEGIN IMMEDIATE (the database's write lock).
func migrate(ctx context.Context, db *sql.DB, d dialect, table string, now time.Time) error {
	if d.name == "postgres" {
		return migratePostgres(ctx, db, d, table, now)
	}
	return migrateSQLite(ctx, db, d, table, now)
}

// execer is what a migration runs on: a *sql.Tx or a *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func migratePostgres(ctx context.Context, db *sql.DB, d dialect, table string, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// The lock key covers schema and table, so stores in other schemas
	// migrate in parallel.
	if _, err := tx.ExecContext(ctx,
		"SELECT pg_advisory_xact_lock(hashtextextended('dbstore:' || coalesce(current_schema(), '') || '.' || $1, 0))",
		table); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := applyMigrations(ctx, tx, d, table, now); err != nil {
		return err
	}
	return tx.Commit()
}

func migrateSQLite(ctx context.Context, db *sql.DB, d dialect, table string, now time.Time) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// BEGIN IMMEDIATE takes the write lock up front. busy_timeout usually
	// waits for it; retry here too, for connections opened without one.
	for {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil {
			break
		}
		if !isBusy(err) {
			return fmt.Errorf("begin: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("begin: %w", errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer func() {
		if err == nil {
			if _, err = conn.ExecContext(ctx, "COMMIT"); err == nil {
				return
			}
			err = fmt.Errorf("commit: %w", err)
		}
		// Roll back on a context of its own: ctx may be why we failed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "ROLLBACK"); rerr != nil {
			// Never hand a connection with an open transaction back to
			// the pool: mark it bad so database/sql closes it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return applyMigrations(ctx, conn, d, table, now)
}

func applyMigrations(ctx context.Context, x execer, d dialect, table string, now time.Time) error {
	ms := make([]sqlmigrate.Migration, len(migrations))
	for i, m := range migrations {
		ms[i] = sqlmigrate.Migration{Version: m.version, Doc: m.doc, Stmts: m.stmts(d, table)}
	}
	return sqlmigrate.Apply(ctx, x, sqlmigrate.Dialect{BigInt: d.bigint, Rebind: d.rebind}, quote(table+"_migrations"), ms, now)
}
