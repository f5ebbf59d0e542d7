// Package dbstore is a [store.Store] on database/sql, for SQLite
// (modernc.org/sqlite, pure Go, the embedded default), PostgreSQL
// (pgx/v5/stdlib) and MySQL or MariaDB (go-sql-driver/mysql).
//
// Open takes a DATABASE_URL-style string and configures the connection;
// New takes a *sql.DB you already have, from any driver (name its engine
// in [Options.Dialect] when a wrapping driver such as otelsql hides it):
//
//	import _ "modernc.org/sqlite" // or pgx/v5/stdlib, or go-sql-driver/mysql
//
//	s, err := dbstore.Open(ctx, "sqlite:///var/lib/app/sessions.db", dbstore.Options{})
//	if err != nil { ... }
//	defer s.Close()
//
// Like database/sql, the package links no driver: a program carries only
// the engine it imports (package storage, which opens DATABASE_URL for
// you, links all three), and Open without the driver fails with [ErrNoDriver].
//
// The store creates and upgrades its own schema: versioned migrations,
// recorded in <table>_migrations, applied under a PostgreSQL advisory lock,
// SQLite's write lock or a MySQL named lock (GET_LOCK), so several
// processes may start at once. One
// table holds the sessions, one row each: times as unix milliseconds, a
// deadline column (the earlier of the idle and absolute deadlines) that
// every read filters on and the background sweeper deletes by, and the
// user id with its SHA-256 for the per-user index ([store.UserIndex]).
//
// Every write is a compare-and-set: a create is an INSERT ... ON CONFLICT
// that takes only a free or expired key, an update is an UPDATE guarded by
// key, version and deadline. MySQL has no ON CONFLICT ... WHERE, so there a
// create is an INSERT that, when the key is taken, becomes an UPDATE
// guarded by the same condition; each statement is atomic on its row, so
// the rules hold under races as on the other engines. Only parameterised
// SQL reaches the database; the one identifier, the table name, is
// validated (and quoted with backticks on MySQL, whatever its sql_mode).
//
// The store is proved by [storetest.Run], the suite every store in this
// module passes.
//
// [storetest.Run]: https://pkg.go.dev/github.com/vedfolnir/sessions/store/storetest#Run
package dbstore
