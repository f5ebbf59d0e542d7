// Package audit keeps a trail of session events in SQL (SQLite,
// PostgreSQL, or MySQL/MariaDB): who logged in, from where, switched
// platform, rotated, logged out, was revoked.
//
//	w, err := audit.New(ctx, db, audit.Options{})     // creates its table
//	if err != nil { ... }
//	defer w.Close(ctx)                                // flushes
//	r.Use(ginsession.New(ginsession.Config{..., OnEvent: []ginsession.EventHandler{w.Handle}}))
//	...
//	recs, err := w.History(ctx, userID, audit.Filter{Limit: 20})
//
// # Never in the way of a request
//
// [Writer.Handle] only puts the event on a bounded queue (10,000 by
// default) and returns; a goroutine writes batches of up to 200 rows in one
// INSERT, at least every 250 ms. When the queue is full, or a batch fails
// or times out (the database is down or slow), the events are dropped,
// counted ([Writer.Dropped], [Options.OnDrop]) and logged at most once per
// 10 seconds. A dead database therefore costs a request nothing, and the
// trail has a counted gap rather than a stalled site. [Writer.Close]
// writes what is queued before it returns.
//
// # The table
//
// One row per event, default table session_audit (created and versioned
// by the writer, through <table>_migrations, under a PostgreSQL advisory
// lock or SQLite's write lock, so several processes may start at once):
//
//	id          bigint   ascending
//	time        bigint   unix milliseconds, UTC
//	kind        text     login, logout, rotated, platform_switched, ...
//	session     text     the session's handle: a hash, never the token
//	user_id     text
//	platform    text     the connection switched to (platform_switched only)
//	ip          text
//	user_agent  text     escaped, at most 512 bytes
//	detail      text     escaped, at most 512 bytes
//
// Every text is stored escaped: invalid UTF-8 and control characters
// become \xNN, bidirectional overrides \uNNNN, and it is cut to its bound.
// A hostile User-Agent thus lands as inert, printable, valid text, and
// every value reaches the database as a statement parameter: no input is
// ever part of SQL text.
//
// [Writer.History] lists a user's events, newest first; [Writer.Purge]
// deletes old ones, and the writer purges rows older than 90 days every
// hour by default ([Options.Retention]; a negative retention keeps
// everything).
//
// # What is recorded
//
// Events of a user's session: logins, logouts, switches, rotations,
// revocations, and the cookies of a user's session that were refused
// (undecryptable, tampered, another client's fingerprint). Events that
// belong to no user (a cookie naming no session, an anonymous session
// created or expired) are not: any visitor can cause them at no cost, so
// they would let anyone fill the table. Count them with metrics
// (ginsession/metrics counts every event), or set
// [Options.IncludeAnonymous].
package audit
