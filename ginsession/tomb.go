package ginsession

import (
	"context"
	"errors"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Ending a session.
//
// A session is never ended by a plain delete. Logout, revocation, eviction
// and rotation replace the entry, with a compare-and-set on its version,
// by a tombstone: a small sealed record that lives until the session's
// absolute deadline, outside every user index. Two attacks die on it:
//   - a request that loaded the session before it ended (a thief's, say)
//     cannot save, rotate or log in from it: its compare-and-set meets the
//     tombstone's newer version, and a tombstone is never merged into;
//   - an older copy of the entry (a hybrid mirror, a fallback recovery, a
//     storage-mode switch) cannot be copied back: store.Copier refuses to
//     overwrite a newer version, and no older copy outlives the deadline.
// What a tombstone cannot stop is someone who writes raw bytes into the
// store: the envelope proves where a payload came from, not that it is the
// latest. Rotate the key ring to retire every earlier payload at once.

// keyTomb marks a tombstone record.
const keyTomb = "\x00x"

// dead reports whether values are a tombstone or a forwarding record: not a
// session anyone may use or merge into.
func dead(vals map[string][]byte) bool { return vals[keyTomb] != nil || vals[keyForward] != nil }

// kill ends the session stored under e.Key (e is the copy the caller holds,
// or nil to read it). It returns nil when the session is already gone.
func (m *Manager) kill(ctx context.Context, key string, e *store.Entry) error {
	st := m.cfg.Store
	for attempt := 0; ; attempt++ {
		if e == nil {
			fresh, err := st.Get(ctx, key)
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
				return nil
			}
			if err != nil {
				return err
			}
			if vals, _, reason := m.open(fresh); reason == "" && vals[keyTomb] != nil {
				return nil
			}
			e = fresh
		}
		err := st.Put(ctx, m.tombstone(e), e.Version)
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound):
			return nil
		case errors.Is(err, store.ErrInvalid):
			// Already past its deadline: nothing older can outlive it.
			return ignoreNotFound(st.Delete(ctx, key))
		case !errors.Is(err, store.ErrConflict) || attempt >= m.cfg.MaxConflictRetries:
			return err
		}
		e = nil
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// tombstone builds the record that replaces e.
func (m *Manager) tombstone(e *store.Entry) *store.Entry {
	now := m.cfg.Now()
	end := e.AbsoluteDeadline
	if !now.Before(end) {
		end = now.Add(time.Second)
	}
	raw, _ := store.EncodeValue(true, m.cfg.Limits)
	t := &store.Entry{Key: e.Key, Version: e.Version + 1, Created: e.Created, LastActivity: now,
		IdleDeadline: end, AbsoluteDeadline: end}
	t.Normalize()
	t.Payload, _ = m.seal(t, map[string][]byte{keyTomb: raw})
	return t
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// keyAbs sealed the session's lifetime inside records of type
// recordSession (before recordBound bound it as associated data): its
// creation time and absolute deadline, or in older records the deadline
// alone. Such records are still read and checked against it (see
// Manager.bound); their next save drops it.
const keyAbs = "\x00a"

// keyLoginTime held the login time in records sealed before keyAbs held the
// creation time. Such records are still read, and their creation time is
// checked against it, until their absolute deadline has passed; the next
// rotation drops it.
const keyLoginTime = "\x00t"

// lifetime is keyAbs's value: a 2-element array of small integers, the
// cheapest form of two times at the milliseconds that stores keep.
type lifetime struct {
	//lint:ignore U1000 read by msgpack through its tag
	_msgpack struct{} `msgpack:",as_array"`
	Created  int64    // Unix milliseconds
	Life     int64    // absolute deadline minus Created, milliseconds
}

// legacyKeys are the values only records of type recordSession hold.
var legacyKeys = [...]string{keyAbs, keyLoginTime}

// bound reports whether the entry's plaintext user id, creation time and
// absolute deadline match the values: for a recordBound envelope, which
// binds all three, that a user value is there exactly when the entry has a
// user id; for a recordSession one, also the sealed copies it holds.
func (m *Manager) bound(e *store.Entry, vals map[string][]byte) bool {
	_, ok := m.boundUser(e, vals)
	return ok
}

// boundUser is bound that also returns the sealed user (nil when
// anonymous), so a load decodes it once.
func (m *Manager) boundUser(e *store.Entry, vals map[string][]byte) (*User, bool) {
	var u *User
	id := ""
	if raw := vals[keyUser]; raw != nil {
		u = new(User)
		if store.DecodeValue(raw, u, m.cfg.Limits) != nil {
			return nil, false
		}
		if u.ID == "" {
			// recordBound: the id is the entry's, bound as associated data.
			u.ID = e.UserID
		}
		if u.ID == "" {
			return nil, false
		}
		id = u.ID
	}
	if id != e.UserID {
		return nil, false
	}
	if raw := vals[keyAbs]; raw != nil {
		created, abs := store.Millis(e.Created).UnixMilli(), store.Millis(e.AbsoluteDeadline).UnixMilli()
		if len(raw) > 0 && raw[0] == 0x92 { // a 2-element array
			var lt lifetime
			if store.DecodeValue(raw, &lt, m.cfg.Limits) != nil || lt.Created != created || lt.Created+lt.Life != abs {
				return nil, false
			}
		} else { // sealed before the creation time was: the deadline alone
			var ms int64
			if store.DecodeValue(raw, &ms, m.cfg.Limits) != nil || ms != abs {
				return nil, false
			}
		}
	}
	if raw := vals[keyLoginTime]; raw != nil {
		var t time.Time
		if store.DecodeValue(raw, &t, m.cfg.Limits) != nil || !t.Equal(store.Millis(e.Created)) {
			return nil, false
		}
	}
	return u, true
}
