package audit

import (
	"context"
	"database/sql"
	"strconv"
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
		if d.Name == sqlmigrate.MySQL.Name {
			return mysqlV1(d, t, table)
		}
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

// mysqlV1 is version 1 for MySQL: indexed text needs a length there (the
// sanitiser's bounds, which count bytes, fit as characters), and the
// indexes go inside CREATE TABLE (MySQL has no CREATE INDEX IF NOT
// EXISTS). The columns queries match on, user_id and kind, are VARBINARY:
// every byte counts, where even a binary collation ignores trailing
// spaces ("bob" would match "bob "); the table's binary collation keeps
// the others case-sensitive.
func mysqlV1(d sqlmigrate.Dialect, t, table string) []string {
	n := func(max int) string { return "VARCHAR(" + strconv.Itoa(max) + ") NOT NULL" }
	b := func(max int) string { return "VARBINARY(" + strconv.Itoa(max) + ") NOT NULL" }
	return []string{
		"CREATE TABLE IF NOT EXISTS " + t + " (" + d.AutoID + ", " +
			`"time" BIGINT NOT NULL, "kind" ` + b(maxKind) + `, "session" ` + n(maxSession) + ", " +
			`"user_id" ` + b(maxUserID) + `, "platform" ` + n(maxPlatform) + `, "ip" ` + n(maxIP) + ", " +
			`"user_agent" MEDIUMTEXT NOT NULL, "detail" MEDIUMTEXT NOT NULL, ` +
			"INDEX " + sqlmigrate.Quote(table+"_user_idx") + ` ("user_id", "time", id), ` +
			"INDEX " + sqlmigrate.Quote(table+"_time_idx") + ` ("time"))` + d.TableOptions,
	}
}

// migrate brings the schema up to date, safely from several processes at
// once (see sqlmigrate.Migrate).
func migrate(ctx context.Context, db *sql.DB, d sqlmigrate.Dialect, table string, now time.Time) error {
	ms := make([]sqlmigrate.Migration, len(migrations))
	for i, m := range migrations {
		ms[i] = sqlmigrate.Migration{Version: m.version, Doc: m.doc, Stmts: m.stmts(d, table)}
	}
	return sqlmigrate.Migrate(ctx, db, d, "audit", table, ms, now)
}
