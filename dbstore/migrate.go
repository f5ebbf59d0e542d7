package dbstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
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
			t := sqlmigrate.Quote(table)
			return []string{
				// Times are unix milliseconds. deadline = min(idle_deadline,
				// absolute_deadline): what reads filter on and the sweeper
				// deletes by. user_id is binary because a user id may hold
				// any bytes; user_hash (SHA-256 of user_id, NULL for
				// anonymous sessions) keeps the index small whatever the
				// id's length.
				"CREATE TABLE IF NOT EXISTS " + t + " (" +
					"key TEXT NOT NULL PRIMARY KEY, " +
					"version " + d.BigInt + " NOT NULL, " +
					"user_id " + d.Blob + ", " +
					"user_hash " + d.Blob + ", " +
					"created " + d.BigInt + " NOT NULL, " +
					"last_activity " + d.BigInt + " NOT NULL, " +
					"idle_deadline " + d.BigInt + " NOT NULL, " +
					"absolute_deadline " + d.BigInt + " NOT NULL, " +
					"deadline " + d.BigInt + " NOT NULL, " +
					"payload " + d.Blob + ")",
				"CREATE INDEX IF NOT EXISTS " + sqlmigrate.Quote(table+"_user_idx") + " ON " + t +
					" (user_hash, created) WHERE user_hash IS NOT NULL",
				"CREATE INDEX IF NOT EXISTS " + sqlmigrate.Quote(table+"_deadline_idx") + " ON " + t + " (deadline)",
			}
		},
	},
}

// migrate brings the schema up to date, safely from several processes at
// once (see sqlmigrate.Migrate).
func migrate(ctx context.Context, db *sql.DB, d dialect, table string, now time.Time) error {
	ms := make([]sqlmigrate.Migration, len(migrations))
	for i, m := range migrations {
		ms[i] = sqlmigrate.Migration{Version: m.version, Doc: m.doc, Stmts: m.stmts(d, table)}
	}
	return sqlmigrate.Migrate(ctx, db, d, "dbstore", table, ms, now)
}
