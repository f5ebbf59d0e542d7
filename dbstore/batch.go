package dbstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/vedfolnir/sessions/internal/sqlmigrate"
	"github.com/vedfolnir/sessions/store"
)

var _ store.BatchCopier = (*Store)(nil)

// CopyInBatch copies es in one transaction, each with the rule of
// [Store.CopyIn]; see [store.BatchCopier]. A hybrid store uses it to
// group-commit the mirror writes of concurrent requests: on SQLite one
// commit (one WAL append and, at synchronous NORMAL, no fsync) carries the
// lot. A deadlock (MySQL) retries the whole transaction, up to five times.
func (s *Store) CopyInBatch(ctx context.Context, es []*store.Entry) ([]store.CopyResult, error) {
	res := make([]store.CopyResult, len(es))
	now := s.now()
	todo := 0
	for i, e := range es {
		if err := s.check(e, 0); err != nil {
			res[i].Err = fmt.Errorf("dbstore: copy in: %w", err)
			continue
		}
		if e.Deadline().UnixMilli() > now {
			todo++
		}
	}
	if todo == 0 {
		return res, nil
	}
	for try := 1; ; try++ {
		err := s.copyBatchTx(ctx, es, res, now)
		if err == nil {
			return res, nil
		}
		for i := range res {
			res[i].Wrote = false
		}
		if try == 5 || !sqlmigrate.IsDeadlock(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("dbstore: copy in batch: %w", unavailable(err))
		}
	}
}

// copyBatchTx runs one attempt of CopyInBatch.
func (s *Store) copyBatchTx(ctx context.Context, es []*store.Entry, res []store.CopyResult, now int64) (err error) {
	// Prepared before the transaction takes the connection: SQLite's pool
	// has only the one.
	var shared, sharedKeep *sql.Stmt
	if !s.isMySQL() {
		if shared, sharedKeep, err = s.preparedCopy(ctx); err != nil {
			return err
		}
	}
	var txo *sql.TxOptions
	if s.isMySQL() {
		txo = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := s.db.BeginTx(ctx, txo)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var stmt, keep *sql.Stmt
	if shared != nil {
		stmt = tx.StmtContext(ctx, shared)
		defer stmt.Close()
	}
	if sharedKeep != nil {
		keep = tx.StmtContext(ctx, sharedKeep)
		defer keep.Close()
	}
	// Rows are written in key order (entries of one key in their given
	// order): concurrent batches then take their row locks in the same
	// order and cannot deadlock each other.
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(es[a].Key, es[b].Key) })
	for _, i := range order {
		e := es[i]
		if res[i].Err != nil || e.Deadline().UnixMilli() <= now {
			continue
		}
		args := rowArgs(e)
		if s.isMySQL() {
			res[i].Wrote, err = s.copyInMySQLTx(ctx, tx, args, int64(e.Version), now)
			if err != nil {
				return err
			}
			continue
		}
		if keep != nil {
			r, err := keep.ExecContext(ctx, args[1], args[5], args[6], args[8], args[9], args[0], args[1], args[2], args[4], args[7])
			if err != nil {
				return err
			}
			if n, err := r.RowsAffected(); err != nil || n > 0 {
				res[i].Wrote = err == nil
				if err != nil {
					return err
				}
				continue
			}
		}
		r, err := stmt.ExecContext(ctx, append(args, now)...)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		res[i].Wrote = n > 0
	}
	return tx.Commit()
}

// copyInMySQLTx is CopyIn on MySQL inside a transaction: the guarded
// UPDATE first (it locks an existing row), an INSERT when no row took it,
// and the UPDATE again if a concurrent transaction inserted the key
// meanwhile. The transaction runs at READ COMMITTED, so no gap locks are
// taken and batches in key order do not deadlock.
func (s *Store) copyInMySQLTx(ctx context.Context, tx *sql.Tx, args []any, version, now int64) (bool, error) {
	upd := append(append(append([]any{}, args[1:]...), args[0]), now, version)
	for range 2 {
		r, err := tx.ExecContext(ctx, s.q.copyOver, upd...)
		if err != nil {
			return false, err
		}
		if n, err := r.RowsAffected(); err != nil || n > 0 {
			return err == nil, err
		}
		_, err = tx.ExecContext(ctx, s.q.insert, args...)
		if err == nil {
			return true, nil
		}
		if !sqlmigrate.IsDuplicate(err) {
			return false, err
		}
	}
	return false, nil // a live row at this version or a newer one
}

// preparedCopy returns the CopyIn statement and, on SQLite, its in-place
// fast path, prepared on the pool once.
func (s *Store) preparedCopy(ctx context.Context) (copyIn, keep *sql.Stmt, err error) {
	s.copyMu.Lock()
	defer s.copyMu.Unlock()
	if s.copyStmt == nil {
		if s.copyStmt, err = s.db.PrepareContext(ctx, s.q.copyIn); err != nil {
			return nil, nil, err
		}
	}
	if s.keepStmt == nil && s.d.Name == sqlmigrate.SQLite.Name {
		if s.keepStmt, err = s.db.PrepareContext(ctx, s.q.copyKeep); err != nil {
			return nil, nil, err
		}
	}
	return s.copyStmt, s.keepStmt, nil
}
