package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
)

// Record is one stored event.
type Record struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Kind is the event kind ("login", "logout", ...). Its JSON name is
	// "type", as in the reference app's /api/audit.
	Kind EventKind `json:"type"`
	// Session is the session's non-secret handle (never a token).
	Session string `json:"session"`
	UserID  string `json:"user_id"`
	// Platform is the connection switched to, for platform_switched
	// events ("" for "none").
	Platform  string `json:"platform"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Detail    string `json:"detail"`
}

// EventKind is ginsession's event kind.
type EventKind = ginsession.EventKind

// Filter narrows [Writer.History]. The zero value is the latest
// DefaultLimit events of every kind.
type Filter struct {
	// Limit is the most records returned. Default 50; values above
	// MaxLimit are MaxLimit.
	Limit int
	// Before, when set, returns only events strictly before it (for
	// paging: pass the Time of the last record seen).
	Before time.Time
	// Kinds, when set, returns only these kinds (at most MaxKinds).
	Kinds []EventKind
}

// Bounds of [Filter].
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	MaxKinds     = 32
)

const selectColumns = `id, ` + columns

// History returns the user's events, newest first. userID is matched as
// stored: escaped like every stored text, so any id the session layer
// carried matches itself.
func (w *Writer) History(ctx context.Context, userID string, f Filter) ([]Record, error) {
	if userID == "" {
		return nil, fmt.Errorf("audit: history: %w: empty user id", ErrInvalid)
	}
	if len(f.Kinds) > MaxKinds {
		return nil, fmt.Errorf("audit: history: %w: more than %d kinds", ErrInvalid, MaxKinds)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var q strings.Builder
	q.WriteString("SELECT " + selectColumns + " FROM " + w.table + ` WHERE "user_id" = ?`)
	args := []any{clean(userID, maxUserID)}
	if !f.Before.IsZero() {
		q.WriteString(` AND "time" < ?`)
		args = append(args, f.Before.UnixMilli())
	}
	if len(f.Kinds) > 0 {
		q.WriteString(` AND "kind" IN (`)
		for i, k := range f.Kinds {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("?")
			args = append(args, clean(string(k), maxKind))
		}
		q.WriteString(")")
	}
	q.WriteString(` ORDER BY "time" DESC, id DESC LIMIT ?`)
	args = append(args, limit)
	rows, err := w.db.QueryContext(ctx, w.d.Rebind(q.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: history: %w", err)
	}
	defer rows.Close()
	out := make([]Record, 0, min(limit, 64))
	for rows.Next() {
		var r Record
		var ms int64
		var kind string
		if err := rows.Scan(&r.ID, &ms, &kind, &r.Session, &r.UserID, &r.Platform, &r.IP, &r.UserAgent, &r.Detail); err != nil {
			return nil, fmt.Errorf("audit: history: %w", err)
		}
		r.Time, r.Kind = time.UnixMilli(ms).UTC(), EventKind(kind)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: history: %w", err)
	}
	return out, nil
}

// purgeBatch bounds the rows one DELETE removes, so a purge of a large
// backlog never holds a long lock.
const purgeBatch = 5000

// Purge deletes the events older than olderThan (> 0) and returns how many
// it deleted. It deletes in batches of 5,000 rows and stops early, with
// the count so far and the error, when ctx ends.
func (w *Writer) Purge(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("audit: purge: %w: olderThan must be positive", ErrInvalid)
	}
	cutoff := w.opts.Now().Add(-olderThan).UnixMilli()
	q := w.d.Rebind("DELETE FROM " + w.table + " WHERE id IN (SELECT id FROM " + w.table +
		` WHERE "time" < ? LIMIT ?)`)
	total := 0
	for {
		res, err := w.db.ExecContext(ctx, q, cutoff, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("audit: purge: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("audit: purge: %w", err)
		}
		total += int(n)
		if n < purgeBatch {
			return total, nil
		}
	}
}
