package dbstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
	"github.com/vedfolnir/sessions/store"
)

// Store is a [store.Store] on database/sql, for SQLite, PostgreSQL and
// MySQL (or MariaDB). It
// also implements [store.UserIndex], [store.GetToucher], [store.Copier]
// and [store.Pinger]. Its methods are safe for concurrent use.
type Store struct {
	db *sql.DB

	d    dialect
	q    queries
	opts Options

	stopSweeper context.CancelFunc
	sweeperDone chan struct{}
	closeOnce   sync.Once
	closeErr    error

	// copyStmt is CopyInBatch's statement, prepared once (not per batch:
	// parsing it cost SQLite more than a row).
	copyMu   sync.Mutex
	copyStmt *sql.Stmt
	keepStmt *sql.Stmt // SQLite only: queries.copyKeep
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.UserIndex  = (*Store)(nil)
	_ store.GetToucher = (*Store)(nil)
	_ store.Copier     = (*Store)(nil)
	_ store.Pinger     = (*Store)(nil)
)

// New returns a store on any *sql.DB of a supported engine: SQLite,
// PostgreSQL or MySQL/MariaDB (InnoDB), through any driver (opts.Dialect names the engine; by
// default it is detected from the driver, which a wrapping driver such as
// otelsql hides). This package links no driver: the caller's program
// registers the one it opens db with. New creates or upgrades the schema
// (safe when several processes start at once) and starts the background
// sweeper unless opts.DisableSweeper is set. ctx bounds the migration
// only. Close the store to stop the sweeper; the caller keeps ownership
// of db unless opts.CloseDB is set.
//
// Every statement the store runs is a single autocommit statement, so a
// SQLite pool with several connections works when its connections have a
// busy_timeout (for modernc.org/sqlite: "_pragma=busy_timeout(10000)" in
// the DSN); without one, concurrent writers may fail with
// store.ErrUnavailable ("database is locked"). [Open] configures SQLite
// for you.
//
// On MySQL the store quotes identifiers with backticks and needs no
// particular sql_mode, collation or client flag (clientFoundRows may be
// on or off); a go-sql-driver/mysql DSN only needs parseTime and
// multiStatements off, their defaults.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("dbstore: new: %w: nil *sql.DB", store.ErrInvalid)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("dbstore: new: %w", err)
	}
	d, err := sqlmigrate.Lookup(string(opts.Dialect), db.Driver())
	if err != nil {
		return nil, fmt.Errorf("dbstore: new: %w: Options.Dialect: %w", store.ErrInvalid, err)
	}
	if err := migrate(ctx, db, d, opts.Table, opts.Now()); err != nil {
		return nil, fmt.Errorf("dbstore: migrate %s: %w", opts.Table, unavailable(err))
	}
	s := &Store{db: db, d: d, q: buildQueries(d, opts.Table), opts: opts}
	if !opts.DisableSweeper {
		sctx, cancel := context.WithCancel(context.Background())
		s.stopSweeper = cancel
		s.sweeperDone = make(chan struct{})
		go s.sweepLoop(sctx)
	}
	return s, nil
}

// DB returns the database the store runs on.
func (s *Store) DB() *sql.DB { return s.db }

// Close stops the background sweeper and waits for it to return. If the
// store was made by [Open] it also closes the database. Close is
// idempotent: later calls return the first call's result. The store's
// other methods must not be called after Close when it owns the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.copyMu.Lock()
		for _, st := range []*sql.Stmt{s.copyStmt, s.keepStmt} {
			if st != nil {
				_ = st.Close()
			}
		}
		s.copyMu.Unlock()
		if s.stopSweeper != nil {
			s.stopSweeper()
			<-s.sweeperDone
		}
		if s.opts.CloseDB {
			if err := s.db.Close(); err != nil {
				s.closeErr = fmt.Errorf("dbstore: close: %w", err)
			}
		}
	})
	return s.closeErr
}

// now is the store's clock in unix milliseconds.
func (s *Store) now() int64 { return s.opts.Now().UnixMilli() }

// unavailable wraps a driver error with store.ErrUnavailable, keeping the
// driver's error (and context errors) visible to errors.Is.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// check validates e for a write with expected version prev.
func (s *Store) check(e *store.Entry, prev uint64) error {
	if err := e.Validate(prev); err != nil {
		return err
	}
	if e.Version > math.MaxInt64 {
		return fmt.Errorf("%w: version %d above the SQL bigint range", store.ErrInvalid, e.Version)
	}
	if len(e.Payload) > s.opts.MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, limit %d", store.ErrTooLarge, len(e.Payload), s.opts.MaxPayload)
	}
	return nil
}

// userHash is the index column for a user id: NULL for anonymous entries.
func userHash(userID string) []byte {
	if userID == "" {
		return nil
	}
	h := sha256.Sum256([]byte(userID))
	return h[:]
}

func userBytes(userID string) []byte {
	if userID == "" {
		return nil
	}
	return []byte(userID)
}

// rowArgs are the values of allCols for e, in order.
func rowArgs(e *store.Entry) []any {
	payload := e.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{
		e.Key, int64(e.Version), userBytes(e.UserID), userHash(e.UserID),
		e.Created.UnixMilli(), e.LastActivity.UnixMilli(),
		e.IdleDeadline.UnixMilli(), e.AbsoluteDeadline.UnixMilli(), e.Deadline().UnixMilli(),
		payload,
	}
}

// scanner is *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

// scanEntry reads getCols. Values that do not fit an entry are
// store.ErrCorrupt: SQLite is dynamically typed, so a column may hold
// anything a third party wrote there.
func scanEntry(r scanner, now int64) (*store.Entry, error) {
	var (
		e                   store.Entry
		version             int64
		userID              []byte
		created, la, id, ad int64
	)
	if err := r.Scan(&e.Key, &version, &userID, &created, &la, &id, &ad, &e.Payload); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrCorrupt, err)
	}
	if version <= 0 {
		return nil, fmt.Errorf("%w: version %d", store.ErrCorrupt, version)
	}
	e.Version = uint64(version)
	e.UserID = string(userID)
	e.Created = time.UnixMilli(created).UTC()
	e.LastActivity = time.UnixMilli(la).UTC()
	e.IdleDeadline = time.UnixMilli(id).UTC()
	e.AbsoluteDeadline = time.UnixMilli(ad).UTC()
	if e.Expired(time.UnixMilli(now)) {
		// The deadline column disagrees with the deadlines: never serve
		// an expired entry.
		return nil, store.ErrNotFound
	}
	return &e, nil
}

// Get returns the live entry under key; see [store.Store.Get].
func (s *Store) Get(ctx context.Context, key string) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpGet)
	defer func() { ob.End(err) }()
	if !store.ValidKey(key) {
		return nil, fmt.Errorf("dbstore: get: %w: malformed key", store.ErrInvalid)
	}
	e, err := s.get(ctx, key, s.now())
	if err != nil {
		return nil, fmt.Errorf("dbstore: get: %w", err)
	}
	return e, nil
}

func (s *Store) get(ctx context.Context, key string, now int64) (*store.Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.q.get, key, now)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, unavailable(err)
		}
		return nil, store.ErrNotFound
	}
	return scanEntry(rows, now)
}

// Put stores e if the stored version equals prev; see [store.Store.Put].
// A create is one INSERT ... ON CONFLICT that takes the key only when it
// is free or its row has expired; an update is one UPDATE guarded by key,
// version and deadline. When an update changes no row, a second query
// tells ErrConflict (a live row at another version) from ErrNotFound.
func (s *Store) Put(ctx context.Context, e *store.Entry, prev uint64) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpPut)
	defer func() { ob.End(err) }()
	if err := s.check(e, prev); err != nil {
		return fmt.Errorf("dbstore: put: %w", err)
	}
	now := s.now()
	args := rowArgs(e)
	if prev == 0 && s.isMySQL() {
		return s.createMySQL(ctx, args, now)
	}
	if prev == 0 {
		res, err := s.exec(ctx, s.q.create, append(args, now)...)
		if err != nil {
			return fmt.Errorf("dbstore: put: %w", unavailable(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("dbstore: put: %w", unavailable(err))
		} else if n == 0 {
			return fmt.Errorf("dbstore: put: %w: key already holds a live entry", store.ErrConflict)
		}
		return nil
	}
	// SET takes every column but key; WHERE takes key, prev and now.
	res, err := s.exec(ctx, s.q.update, append(args[1:], e.Key, int64(prev), now)...)
	if err != nil {
		return fmt.Errorf("dbstore: put: %w", unavailable(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("dbstore: put: %w", unavailable(err))
	}
	if n > 0 {
		return nil
	}
	var stored int64
	switch err := s.db.QueryRowContext(ctx, s.q.live, e.Key, now).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("dbstore: put: %w: no live entry to update", store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("dbstore: put: %w", unavailable(err))
	}
	return fmt.Errorf("dbstore: put: %w: stored version %d, expected %d", store.ErrConflict, stored, prev)
}

// Delete removes the entry under key; see [store.Store.Delete].
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpDelete)
	defer func() { ob.End(err) }()
	if !store.ValidKey(key) {
		return fmt.Errorf("dbstore: delete: %w: malformed key", store.ErrInvalid)
	}
	if _, err := s.exec(ctx, s.q.del, key); err != nil {
		return fmt.Errorf("dbstore: delete: %w", unavailable(err))
	}
	return nil
}

// Touch refreshes an entry's activity; see [store.Store.Touch]. The
// entry's deadline column becomes min(idleDeadline, AbsoluteDeadline)
// whatever the caller passes, so a touch never outlives the absolute
// deadline.
func (s *Store) Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpTouch)
	defer func() { ob.End(err) }()
	switch {
	case !store.ValidKey(key):
		return fmt.Errorf("dbstore: touch: %w: malformed key", store.ErrInvalid)
	case idleDeadline.IsZero():
		return fmt.Errorf("dbstore: touch: %w: zero idle deadline", store.ErrInvalid)
	}
	id := idleDeadline.UnixMilli()
	now := s.now()
	n, err := s.affected(ctx, s.q.touch, lastActivity.UnixMilli(), id, id, key, now)
	if err != nil {
		return fmt.Errorf("dbstore: touch: %w", err)
	}
	if n == 0 && s.isMySQL() {
		// MySQL counts changed rows, not matched ones: a touch that
		// writes the values already stored counts 0.
		var v int64
		switch err := s.db.QueryRowContext(ctx, s.q.live, key, now).Scan(&v); {
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("dbstore: touch: %w", unavailable(err))
		}
	}
	if n == 0 {
		return fmt.Errorf("dbstore: touch: %w", store.ErrNotFound)
	}
	return nil
}

// GetTouch is Get plus a conditional Touch; see [store.GetToucher]. The
// common case (no refresh due) is one SELECT; a refresh adds one UPDATE
// guarded by version and LastActivity, so it never overwrites a
// concurrent save or touch.
func (s *Store) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpGetTouch)
	defer func() { ob.End(err) }()
	if !store.ValidKey(key) {
		return nil, fmt.Errorf("dbstore: get: %w: malformed key", store.ErrInvalid)
	}
	clock := s.now()
	e, err := s.get(ctx, key, clock)
	if err != nil {
		return nil, fmt.Errorf("dbstore: get: %w", err)
	}
	if !e.LastActivity.Before(touchBefore) {
		return e, nil
	}
	la := store.Millis(now)
	id := store.Millis(now.Add(idle))
	if id.After(e.AbsoluteDeadline) {
		id = e.AbsoluteDeadline
	}
	res, err := s.exec(ctx, s.q.touchIf, la.UnixMilli(), id.UnixMilli(), id.UnixMilli(),
		key, int64(e.Version), touchBefore.UnixMilli(), clock)
	if err != nil {
		return nil, fmt.Errorf("dbstore: touch: %w", unavailable(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("dbstore: touch: %w", unavailable(err))
	}
	if n == 0 {
		// Another writer saved, touched or deleted it meanwhile: report
		// what is stored now.
		return s.Get(ctx, key)
	}
	e.LastActivity, e.IdleDeadline = la, id
	return e, nil
}

// ListUser returns the user's live entries, oldest first; see
// [store.UserIndex.ListUser]. Rows are found by the SHA-256 of the user
// id and matched on the id itself, so ids of any length and any bytes
// work and never match each other.
func (s *Store) ListUser(ctx context.Context, userID string) (_ []*store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpListUser)
	defer func() { ob.End(err) }()
	if userID == "" {
		// Anonymous sessions have no index: never list them all.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dbstore: list user: %w", unavailable(err))
		}
		return []*store.Entry{}, nil
	}
	now := s.now()
	rows, err := s.db.QueryContext(ctx, s.q.list, userHash(userID), userBytes(userID), now)
	if err != nil {
		return nil, fmt.Errorf("dbstore: list user: %w", unavailable(err))
	}
	defer rows.Close()
	out := []*store.Entry{}
	for rows.Next() {
		e, err := scanEntry(rows, now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("dbstore: list user: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dbstore: list user: %w", unavailable(err))
	}
	return out, nil
}

// DeleteUser deletes the user's entries except keep and returns how many
// live entries it deleted; see [store.UserIndex.DeleteUser]. Expired rows
// of the user go too, uncounted.
func (s *Store) DeleteUser(ctx context.Context, userID string, keep string) (_ int, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpDeleteUser)
	defer func() { ob.End(err) }()
	if userID == "" {
		// Anonymous sessions have no index: never delete them all.
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("dbstore: delete user: %w", unavailable(err))
		}
		return 0, nil
	}
	now := s.now()
	if s.isMySQL() {
		return s.deleteUserMySQL(ctx, userID, keep, now)
	}
	rows, err := s.db.QueryContext(ctx, s.q.deleteUser, userHash(userID), userBytes(userID), keep)
	if err != nil {
		return 0, fmt.Errorf("dbstore: delete user: %w", unavailable(err))
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var deadline int64
		if err := rows.Scan(&deadline); err == nil && deadline > now {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("dbstore: delete user: %w", unavailable(err))
	}
	return n, nil
}

// CopyIn stores e as it is unless a live entry at a version >= e.Version
// holds the key; see [store.Copier]. One INSERT ... ON CONFLICT statement.
func (s *Store) CopyIn(ctx context.Context, e *store.Entry) (_ bool, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpCopyIn)
	defer func() { ob.End(err) }()
	if err := s.check(e, 0); err != nil {
		return false, fmt.Errorf("dbstore: copy in: %w", err)
	}
	now := s.now()
	if e.Deadline().UnixMilli() <= now {
		return false, nil
	}
	if s.isMySQL() {
		return s.copyInMySQL(ctx, rowArgs(e), int64(e.Version), now)
	}
	res, err := s.exec(ctx, s.q.copyIn, append(rowArgs(e), now)...)
	if err != nil {
		return false, fmt.Errorf("dbstore: copy in: %w", unavailable(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("dbstore: copy in: %w", unavailable(err))
	}
	return n > 0, nil
}

// Ping checks that the database answers; see [store.Pinger].
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "database", store.OpPing)
	defer func() { ob.End(err) }()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("dbstore: ping: %w", unavailable(err))
	}
	return nil
}
