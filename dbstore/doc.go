// Package dbstore is a [store.Store] on database/sql, for SQLite
// (modernc.org/sqlite, pure Go, the embedded default) and PostgreSQL
// (pgx/v5/stdlib).
//
// Open takes a DATABASE_URL-style string and configures the connection;
// New takes a *sql.DB you already have, from any driver (name its engine
// in [Options.Dialect] when a wrapping driver such as otelsql hides it):
//
//	import _ "modernc.org/sqlite" // or _ "github.com/jackc/pgx/v5/stdlib"
//
//	s, err := dbstore.Open(ctx, "sqlite:///var/lib/app/sessions.db", dbstore.Options{})
//	if err != nil { ... }
//	defer s.Close()
//
// Like database/sql, the package links no driver: a program carries only
// the engine it imports (package storage, which opens DATABASE_URL for
// you, links both), and Open without the driver fails with [ErrNoDriver].
//
// The store creates and upgrades its own schema: versioned migrations,
// recorded in <table>_migrations, applied under a PostgreSQL advisory lock
// or SQLite's write lock, so several processes may start at once. One
// table holds the sessions, one row each: times as unix milliseconds, a
// deadline column (the earlier of the idle and absolute deadlines) that
// every read filters on and the background sweeper deletes by, and the
// user id with its SHA-256 for the per-user index ([store.UserIndex]).
//
// Every write is a compare-and-set in one statement: a create is an
// INSERT ... ON CONFLICT that takes only a free or expired key, an update
// is an UPDATE guarded by key, version and deadline. Only parameterised
// SQL reaches the database; the one identifier, the table name, is
// validated.
//
// The store is proved by [storetest.Run], the suite every store in this
// module passes.
//
// [storetest.Run]: https://pkg.go.dev/github.com/vedfolnir/sessions/store/storetest#Run
package dbstore
