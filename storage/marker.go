package storage

import (
	"context"
	"fmt"

	"github.com/vedfolnir/sessions/internal/record"
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
	rec, found, err = record.Load[modeRecord](ctx, s, modeKey)
	switch {
	case err != nil:
		return modeRecord{}, false, fmt.Errorf("storage: mode record: %w", err)
	case !found:
		rec.Generation = 1
	}
	return rec, found, nil
}

// writeMode stores rec with a compare-and-set loop.
func writeMode(ctx context.Context, s store.Store, rec modeRecord) error {
	_, err := record.Update(ctx, s, modeKey, func(cur modeRecord, found bool) (modeRecord, bool, error) {
		return rec, !found || cur != rec, nil
	})
	if err != nil {
		return fmt.Errorf("storage: mode record: %w", err)
	}
	return nil
}
