package dbstore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"modernc.org/sqlite"
)

// dialect is what differs between the SQL engines the store supports.
type dialect struct {
	name   string // "sqlite" or "postgres"
	blob   string // binary column type
	bigint string // 64-bit integer column type
	least  string // two-argument minimum function
	dollar bool   // placeholders are $1, $2, ... instead of ?
}

var (
	sqliteDialect   = dialect{name: "sqlite", blob: "BLOB", bigint: "INTEGER", least: "min"}
	postgresDialect = dialect{name: "postgres", blob: "bytea", bigint: "bigint", least: "LEAST", dollar: true}
)

// detectDialect names the engine behind a database/sql driver: modernc.org
// /sqlite and other SQLite drivers, or pgx (and lib/pq) for PostgreSQL.
func detectDialect(d driver.Driver) (dialect, error) {
	if _, ok := d.(*sqlite.Driver); ok {
		return sqliteDialect, nil
	}
	t := reflect.TypeOf(d)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := strings.ToLower(t.PkgPath())
	switch {
	case strings.Contains(pkg, "sqlite"):
		return sqliteDialect, nil
	case strings.Contains(pkg, "pgx"), strings.HasSuffix(pkg, "lib/pq"):
		return postgresDialect, nil
	}
	return dialect{}, fmt.Errorf("unsupported database/sql driver %T: want SQLite (modernc.org/sqlite) or PostgreSQL (pgx)", d)
}

// rebind turns ? placeholders into $n for PostgreSQL. The store's queries
// hold no ? inside literals.
func (d dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isBusy reports whether err is SQLite's "database is locked" (another
// connection or process holds the write lock).
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 5 // SQLITE_BUSY and its extended codes
	}
	return err != nil && strings.Contains(err.Error(), "SQLITE_BUSY")
}

// quote quotes an identifier. Identifiers come from a validated table name,
// never from input, but quoting keeps reserved words such as "user" usable.
func quote(ident string) string { return `"` + ident + `"` }

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
	t := quote(table)
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
		touch: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.least + "(?, absolute_deadline) " +
			"WHERE key = ? AND deadline > ?",
		touchIf: "UPDATE " + t + " SET last_activity = ?, idle_deadline = ?, deadline = " + d.least + "(?, absolute_deadline) " +
			"WHERE key = ? AND version = ? AND last_activity < ? AND deadline > ?",
		list: "SELECT " + getCols + " FROM " + t + " WHERE user_hash = ? AND user_id = ? AND deadline > ? " +
			"ORDER BY created, key",
		deleteUser: "DELETE FROM " + t + " WHERE user_hash = ? AND user_id = ? AND key <> ? RETURNING deadline",
		sweep: "DELETE FROM " + t + " WHERE key IN (SELECT key FROM " + t + " WHERE deadline <= ? LIMIT " +
			strconv.Itoa(sweepBatch) + ")",
	}
	for _, p := range []*string{&q.get, &q.create, &q.copyIn, &q.update, &q.live, &q.del, &q.touch, &q.touchIf, &q.list, &q.deleteUser, &q.sweep} {
		*p = d.rebind(*p)
	}
	return q
}
