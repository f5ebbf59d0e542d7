package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// modeKey is the reserved key of the mode record in Redis's base
// namespace: the key of a token text no token can have.
var modeKey = store.KeyFromToken("sessions/storage-mode")

// modeRecord tells the next start which mode last wrote Redis and which
// generation's namespace holds its sessions.
type modeRecord struct {
	Mode       Mode   `json:"mode"`
	Generation uint64 `json:"generation"`
}

// loadMode reads the mode record; found is false when Redis has none (a
// new Redis, or one emptied by a restart).
func loadMode(ctx context.Context, s store.Store) (rec modeRecord, found bool, err error) {
	rec, e, err := loadModeEntry(ctx, s)
	return rec, e != nil, err
}

func loadModeEntry(ctx context.Context, s store.Store) (modeRecord, *store.Entry, error) {
	e, err := s.Get(ctx, modeKey)
	if errors.Is(err, store.ErrNotFound) {
		return modeRecord{Generation: 1}, nil, nil
	}
	if err != nil {
		return modeRecord{}, nil, err
	}
	var rec modeRecord
	if err := json.Unmarshal(e.Payload, &rec); err != nil {
		return modeRecord{}, nil, fmt.Errorf("storage: mode record: %w", store.ErrCorrupt)
	}
	return rec, e, nil
}

// writeMode stores rec with a compare-and-set loop.
func writeMode(ctx context.Context, s store.Store, rec modeRecord) error {
	payload, _ := json.Marshal(rec)
	for range 20 {
		cur, e, err := loadModeEntry(ctx, s)
		if err != nil {
			return err
		}
		if e != nil && cur == rec {
			return nil
		}
		now := time.Now()
		n := &store.Entry{
			Key: modeKey, Version: 1, Created: now, LastActivity: now,
			IdleDeadline: now.AddDate(100, 0, 0), AbsoluteDeadline: now.AddDate(100, 0, 0),
			Payload: payload,
		}
		var prev uint64
		if e != nil {
			prev, n.Version, n.Created = e.Version, e.Version+1, e.Created
		}
		n.Normalize()
		switch err := s.Put(ctx, n, prev); {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			continue
		default:
			return err
		}
	}
	return fmt.Errorf("storage: mode record: %w: too many concurrent updates", store.ErrConflict)
}
