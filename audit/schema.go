package audit

import (
	"context"
	"database/sql"
	"time"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
)

// migration is one schema step, applied once and recorded in
// <table>_migrations. A released step is never edited, only followed.
type migration struct {
	version int
	doc     string
	stmts   func(d sqlmigrate.Dialect, table string) []string
}

var migrations = []migration{{
	version: 1,
	doc:     "audit table, per-user and time indexes",
	stmts: func(d sqlmigrate.Dialect, table string) []string {
		t := sqlmigrate.Quote(table)
		return []string{
			// time: unix milliseconds, UTC. session: the non-secret
			// handle, never a token. Text columns hold sanitised,
			// bounded text (see sanitize.go).
			"CREATE TABLE IF NOT EXISTS " + t + " (" + d.AutoID + ", " +
				`"time" bigint NOT NULL, "kind" TEXT NOT NULL, "session" TEXT NOT NULL, ` +
				`"user_id" TEXT NOT NULL, "platform" TEXT NOT NULL, "ip" TEXT NOT NULL, ` +
				`"user_agent" TEXT NOT NULL, "detail" TEXT NOT NULL)`,
			"CREATE INDEX IF NOT EXISTS " + sqlmigrate.Quote(table+"_user_idx") + " ON " + t + ` ("user_id", "time", id)`,
			"CREATE INDEX IF NOT EXISTS " + sqlmigrate.Quote(table+"_time_idx") + " ON " + t + ` ("time")`,
		}
	},
}}

// migrate brings the schema up to date, safely from several processes at
// once (see sqlmigrate.Migrate).
func migrate(ctx context.Context, db *sql.DB, d sqlmigrate.Dialect, table string, now time.Time) error {
	ms := make([]sqlmigrate.Migration, len(migrations))
	for i, m := range migrations {
		ms[i] = sqlmigrate.Migration{Version: m.version, Doc: m.doc, Stmts: m.stmts(d, table)}
	}
	return sqlmigrate.Migrate(ctx, db, d, "audit", table, ms, now)
}
