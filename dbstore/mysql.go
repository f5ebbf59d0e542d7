package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
	"github.com/vedfolnir/sessions/store"
)

// MySQL has no INSERT ... ON CONFLICT ... WHERE. INSERT ... ON DUPLICATE
// KEY UPDATE cannot express the guard either: its assignments run left to
// right, each seeing the columns already changed, so a condition on
// version and deadline would change its answer halfway through the row.
// A create or copy is therefore an INSERT that, when the key is taken,
// becomes an UPDATE guarded by the same condition as on the other
// engines. Each statement is atomic on its row, and an UPDATE reads the
// latest committed row (InnoDB locks it), so of racing writers exactly
// one wins, as the conformance suite's race cases check. When the UPDATE
// matches nothing, a read tells a live holder (the answer) from a row
// deleted in between (try again).

// mysqlTries bounds the insert/update rounds of one create or copy; a
// round repeats only when another writer deleted the row between two
// statements.
const mysqlTries = 4

// isMySQL reports whether the store runs on MySQL or MariaDB.
func (s *Store) isMySQL() bool { return s.d.Name == sqlmigrate.MySQL.Name }

// exec runs a write, running it again when InnoDB chose it as a
// deadlock's victim (it was rolled back whole, so that is safe).
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	for try := 1; ; try++ {
		res, err := s.db.ExecContext(ctx, q, args...)
		if err == nil || try == 3 || !sqlmigrate.IsDeadlock(err) || ctx.Err() != nil {
			return res, err
		}
	}
}

// affected runs a write and returns how many rows it changed.
func (s *Store) affected(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return 0, unavailable(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// insertOrGuarded inserts the row args (allCols) or, if the key is taken,
// runs guard (SET every column but key, then WHERE key and guardArgs). It
// reports whether the row was written; false means a live row that the
// guard keeps holds the key.
func (s *Store) insertOrGuarded(ctx context.Context, args []any, guard string, guardArgs ...any) (bool, error) {
	key := args[0]
	for range mysqlTries {
		_, err := s.exec(ctx, s.q.insert, args...)
		if err == nil {
			return true, nil
		}
		if !sqlmigrate.IsDuplicate(err) {
			return false, unavailable(err)
		}
		upd := append(append(append([]any{}, args[1:]...), key), guardArgs...)
		n, err := s.affected(ctx, guard, upd...)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
		var v int64
		switch err := s.db.QueryRowContext(ctx, s.q.live, key, s.now()).Scan(&v); {
		case err == nil:
			return false, nil // a live row the guard keeps
		case !errors.Is(err, sql.ErrNoRows):
			return false, unavailable(err)
		}
		// Deleted (or expired) since the INSERT: go round again.
	}
	return false, nil
}

// createMySQL is Put's create on MySQL: the key must be free or expired.
func (s *Store) createMySQL(ctx context.Context, args []any, now int64) error {
	ok, err := s.insertOrGuarded(ctx, args, s.q.takeExpired, now)
	if err != nil {
		return fmt.Errorf("dbstore: put: %w", err)
	}
	if !ok {
		return fmt.Errorf("dbstore: put: %w: key already holds a live entry", store.ErrConflict)
	}
	return nil
}

// copyInMySQL is CopyIn on MySQL: the key must be free, expired or at a
// lower version.
func (s *Store) copyInMySQL(ctx context.Context, args []any, version int64, now int64) (bool, error) {
	ok, err := s.insertOrGuarded(ctx, args, s.q.copyOver, now, version)
	if err != nil {
		return false, fmt.Errorf("dbstore: copy in: %w", err)
	}
	return ok, nil
}

// deleteUserMySQL is DeleteUser on MySQL, which has no DELETE ...
// RETURNING: the first DELETE takes the live rows and its count is the
// answer; the second clears the user's rows that had expired by then.
func (s *Store) deleteUserMySQL(ctx context.Context, userID, keep string, now int64) (int, error) {
	h, u := userHash(userID), userBytes(userID)
	n, err := s.affected(ctx, s.q.deleteUserLive, h, u, keep, now)
	if err != nil {
		return 0, fmt.Errorf("dbstore: delete user: %w", err)
	}
	if _, err := s.affected(ctx, s.q.deleteUserExpired, h, u, keep, now); err != nil {
		return int(n), fmt.Errorf("dbstore: delete user: %w", err)
	}
	return int(n), nil
}
