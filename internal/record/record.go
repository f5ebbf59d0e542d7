// Package record keeps small JSON records under reserved store keys: the
// hybrid composition's generation record and the storage mode record. A
// reserved key is the key of a token text no token can have
// (store.KeyFromToken of a name with a slash), so no cookie can name it;
// the record is an anonymous entry that never expires (a hundred years,
// refreshed on every update), so no user index lists it.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// maxAttempts bounds the compare-and-set loop of Update.
const maxAttempts = 20

// ErrBusy is wrapped (with store.ErrConflict) when Update lost the
// compare-and-set race too many times in a row.
var ErrBusy = errors.New("too many concurrent updates")

// Load reads the record under key. found is false, with the zero T, when
// the store has none; a record that does not decode wraps
// store.ErrCorrupt. Errors carry no package prefix: callers add their own.
func Load[T any](ctx context.Context, s store.Store, key string) (v T, found bool, err error) {
	v, e, err := load[T](ctx, s, key)
	return v, e != nil, err
}

func load[T any](ctx context.Context, s store.Store, key string) (T, *store.Entry, error) {
	var v T
	e, err := s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return v, nil, nil
	}
	if err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(e.Payload, &v); err != nil {
		return v, nil, fmt.Errorf("%w: record does not decode", store.ErrCorrupt)
	}
	return v, e, nil
}

// Update changes the record under key with a compare-and-set loop. fn gets
// the current record (found false and the zero T when there is none) and
// returns the next one and whether to write it; an error from fn ends the
// loop. A write that loses the race (another instance changed the record
// meanwhile) reads again and calls fn again. Update returns the record
// stored at the end: the written one, or the current one when fn chose
// not to write.
func Update[T any](ctx context.Context, s store.Store, key string, fn func(cur T, found bool) (next T, write bool, err error)) (T, error) {
	var zero T
	for range maxAttempts {
		cur, e, err := load[T](ctx, s, key)
		if err != nil {
			return zero, err
		}
		next, write, err := fn(cur, e != nil)
		if err != nil {
			return zero, err
		}
		if !write {
			return cur, nil
		}
		payload, err := json.Marshal(next)
		if err != nil {
			return zero, fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		now := time.Now()
		rec := &store.Entry{
			Key: key, Version: 1, Created: now, LastActivity: now,
			IdleDeadline: now.AddDate(100, 0, 0), AbsoluteDeadline: now.AddDate(100, 0, 0),
			Payload: payload,
		}
		var prev uint64
		if e != nil {
			prev, rec.Version, rec.Created = e.Version, e.Version+1, e.Created
		}
		rec.Normalize()
		switch err := s.Put(ctx, rec, prev); {
		case err == nil:
			return next, nil
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			continue // another instance changed it: read again
		default:
			return zero, err
		}
	}
	return zero, fmt.Errorf("%w: %w", store.ErrConflict, ErrBusy)
}
