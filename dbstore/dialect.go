package dbstore

import (
	"strconv"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
)

// dialect is what differs between the SQL engines the store supports.
type dialect = sqlmigrate.Dialect

// Dialect names the SQL engine behind a *sql.DB, for [Options.Dialect].
type Dialect string

// The engines the store supports.
const (
	// DialectAuto detects the engine from the driver's package:
	// modernc.org/sqlite (or another SQLite driver), pgx or lib/pq. A
	// wrapping driver (otelsql, sqlhooks) hides it: name the engine then.
	DialectAuto Dialect = ""
	SQLite      Dialect = "sqlite"
	Postgres    Dialect = "postgres"
)

// queries is the store's SQL, built once per table and dialect.
type queries struct {
	get, create, update, live, del, touch, touchIf, list, deleteUser, sweep, copyIn string
}

const (
	allCols = "key, version, user_id, user_hash, created, last_activity, idle_deadline, absolute_deadline, deadline, payload"
	getCols = "key, version, user_id, created, last_activity, idle_deadline, absolute_deadline, payload"
)

// sweepBatch bounds how many rows one sweep statement deletes, so a sweep
// after a long pause never holds the write lock for long.
const sweepBatch = 1000

func buildQueries(d dialect, table string) queries {
	t := sqlmigrate.Quote(table)
	upsert := "INSERT INTO " + t + " (" + allCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
		"ON CONFLICT (key) DO UPDATE SET version = excluded.version, user_id = excluded.user_id, " +
		"user_hash = excluded.user_hash, created = excluded.created, last_activity = excluded.last_activity, " +
		"idle_deadline = excluded.idle_deadline, absolute_deadline = excluded.absolute_deadline, " +
		"deadline = excluded.deadline, payload = excluded.payload "
	q := queries{
		get: "SELECT " + getCols + " FROM " + t + " WHERE key = ? AND deadline > ?",
		// A create takes a free key, or one whose row has expired.
		create: upsert + "WHERE " + t + ".deadline <= ?",
		// A copy also replaces a live row of a lower version.
		copyIn: upsert + "WHERE " + t + ".deadline <= ? OR " + t + ".version < excluded.version",
		update: "UPDATE " + t + " SET version = ?, user_id = ?, user_hash = ?, created = ?, last_activity = ?, " +
			"idle_deadline = ?, absolute_deadline = ?, deadline = ?, payload = ? " +
			"WHERE key = ? AND version = ? AND deadline > ?",
		live: "SELECT version FROM " + t + " WHERE key = ? AND deadline > ?",
		del:  "DELETE FROM " + t + " WHERE key = ?",
		touch: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.Least + "(?, absolute_deadline) " +
			"WHERE key = ? AND deadline > ?",
		touchIf: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.Least + "(?, absolute_deadline) " +
			"WHERE key = ? AND version = ? AND last_activity < ? AND deadline > ?",
		list: "SELECT " + getCols + " FROM " + t + " WHERE user_hash = ? AND user_id = ? AND deadline > ? " +
			"ORDER BY created, key",
		deleteUser: "DELETE FROM " + t + " WHERE user_hash = ? AND user_id = ? AND key <> ? RETURNING deadline",
		sweep: "DELETE FROM " + t + " WHERE key IN (SELECT key FROM " + t + " WHERE deadline <= ? LIMIT " +
			strconv.Itoa(sweepBatch) + ")",
	}
	for _, p := range []*string{&q.get, &q.create, &q.copyIn, &q.update, &q.live, &q.del, &q.touch, &q.touchIf, &q.list, &q.deleteUser, &q.sweep} {
		*p = d.Rebind(*p)
	}
	return q
}
