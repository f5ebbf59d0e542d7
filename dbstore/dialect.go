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
	// modernc.org/sqlite (or another SQLite driver), pgx, lib/pq or
	// go-sql-driver/mysql. A
	// wrapping driver (otelsql, sqlhooks) hides it: name the engine then.
	DialectAuto Dialect = ""
	SQLite      Dialect = "sqlite"
	Postgres    Dialect = "postgres"
	// MySQL is MySQL 8 or MariaDB, on InnoDB (the tests run on MariaDB
	// 10.11).
	MySQL Dialect = "mysql"
)

// queries is the store's SQL, built once per table and dialect.
type queries struct {
	get, create, update, live, del, touch, touchIf, list, deleteUser, sweep, copyIn string

	// copyKeep is CopyIn's fast path on SQLite, tried first in a batch: an
	// UPDATE of the columns a session write changes, when the row holds the
	// same user and creation and a lower version. SQLite rewrites every index
	// on a column an UPSERT's SET names, changed or not; this statement
	// leaves the per-user index alone, and costs a third less per row (see
	// BenchmarkCopyInBatch). It writes exactly the row copyIn would.
	copyKeep string

	// MySQL has neither ON CONFLICT nor DELETE ... RETURNING: a create or
	// copy is an INSERT that, on a duplicate key, becomes an UPDATE
	// guarded by the same condition (see mysql.go), and DeleteUser counts
	// with two DELETEs.
	insert, takeExpired, copyOver, deleteUserLive, deleteUserExpired string
}

// The columns; key is quoted because it is a reserved word in MySQL.
const (
	allCols = `"key", version, user_id, user_hash, created, last_activity, idle_deadline, absolute_deadline, deadline, payload`
	getCols = `"key", version, user_id, created, last_activity, idle_deadline, absolute_deadline, payload`
)

// sweepBatch bounds how many rows one sweep statement deletes, so a sweep
// after a long pause never holds the write lock for long.
const sweepBatch = 1000

func buildQueries(d dialect, table string) queries {
	t := sqlmigrate.Quote(table)
	upsert := "INSERT INTO " + t + " (" + allCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
		`ON CONFLICT ("key") DO UPDATE SET version = excluded.version, user_id = excluded.user_id, ` +
		"user_hash = excluded.user_hash, created = excluded.created, last_activity = excluded.last_activity, " +
		"idle_deadline = excluded.idle_deadline, absolute_deadline = excluded.absolute_deadline, " +
		"deadline = excluded.deadline, payload = excluded.payload "
	q := queries{
		get: "SELECT " + getCols + " FROM " + t + ` WHERE "key" = ? AND deadline > ?`,
		// A create takes a free key, or one whose row has expired.
		create: upsert + "WHERE " + t + ".deadline <= ?",
		// A copy also replaces a live row of a lower version.
		copyIn: upsert + "WHERE " + t + ".deadline <= ? OR " + t + ".version < excluded.version",
		copyKeep: "UPDATE " + t + " SET version = ?, last_activity = ?, idle_deadline = ?, deadline = ?, payload = ? " +
			`WHERE "key" = ? AND version < ? AND user_id IS ? AND created = ? AND absolute_deadline = ?`,
		update: "UPDATE " + t + " SET version = ?, user_id = ?, user_hash = ?, created = ?, last_activity = ?, " +
			"idle_deadline = ?, absolute_deadline = ?, deadline = ?, payload = ? " +
			`WHERE "key" = ? AND version = ? AND deadline > ?`,
		live: "SELECT version FROM " + t + ` WHERE "key" = ? AND deadline > ?`,
		del:  "DELETE FROM " + t + ` WHERE "key" = ?`,
		touch: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.Least + "(?, absolute_deadline) " +
			`WHERE "key" = ? AND deadline > ?`,
		touchIf: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.Least + "(?, absolute_deadline) " +
			`WHERE "key" = ? AND version = ? AND last_activity < ? AND deadline > ?`,
		list: "SELECT " + getCols + " FROM " + t + " WHERE user_hash = ? AND user_id = ? AND deadline > ? " +
			`ORDER BY created, "key"`,
		deleteUser: "DELETE FROM " + t + ` WHERE user_hash = ? AND user_id = ? AND "key" <> ? RETURNING deadline`,
		sweep: "DELETE FROM " + t + ` WHERE "key" IN (SELECT "key" FROM ` + t + " WHERE deadline <= ? LIMIT " +
			strconv.Itoa(sweepBatch) + ")",
	}
	if d.Name == sqlmigrate.MySQL.Name {
		set := `SET version = ?, user_id = ?, user_hash = ?, created = ?, last_activity = ?, ` +
			"idle_deadline = ?, absolute_deadline = ?, deadline = ?, payload = ? "
		q.create, q.copyIn, q.deleteUser = "", "", ""
		q.insert = "INSERT INTO " + t + " (" + allCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		q.takeExpired = "UPDATE " + t + " " + set + `WHERE "key" = ? AND deadline <= ?`
		q.copyOver = "UPDATE " + t + " " + set + `WHERE "key" = ? AND (deadline <= ? OR version < ?)`
		q.deleteUserLive = "DELETE FROM " + t + ` WHERE user_hash = ? AND user_id = ? AND "key" <> ? AND deadline > ?`
		q.deleteUserExpired = "DELETE FROM " + t + ` WHERE user_hash = ? AND user_id = ? AND "key" <> ? AND deadline <= ?`
		// MySQL allows no LIMIT in an IN subquery, but a single-table
		// DELETE takes one.
		q.sweep = "DELETE FROM " + t + " WHERE deadline <= ? LIMIT " + strconv.Itoa(sweepBatch)
	}
	for _, p := range []*string{&q.get, &q.create, &q.copyIn, &q.update, &q.live, &q.del, &q.touch, &q.touchIf, &q.list, &q.deleteUser, &q.sweep,
		&q.insert, &q.takeExpired, &q.copyOver, &q.deleteUserLive, &q.deleteUserExpired} {
		*p = d.Rebind(*p)
	}
	return q
}
