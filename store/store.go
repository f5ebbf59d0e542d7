package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Stores wrap them with context ("redisstore: put: %w"), so
// callers test with errors.Is, never by string. Driver errors such as
// redis.Nil or sql.ErrNoRows never escape a store: they are translated to
// these first.
var (
	// ErrNotFound: no live entry under the key (missing, deleted or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a Put's expected version did not match the stored one
	// (another writer got there first, or a create found the key taken).
	ErrConflict = errors.New("store: version conflict")
	// ErrTooLarge: the entry exceeds a store or codec size limit. The stored
	// entry, if any, is left as it was.
	ErrTooLarge = errors.New("store: entry too large")
	// ErrInvalid: an entry or argument breaks the contract (empty key, a new
	// version not above the expected one, zero deadlines).
	ErrInvalid = errors.New("store: invalid entry")
	// ErrUnavailable: the backend could not be reached or did not answer in
	// time. Wrapped together with the driver's own error.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrCorrupt: stored bytes could not be decoded as an entry. Callers treat
	// it like ErrNotFound for the session, and report it.
	ErrCorrupt = errors.New("store: corrupt entry")
)

// Entry is what a store keeps for one session. Stores never see plaintext
// session values: Payload is an envelope sealed by [Keyring].
//
// Times are kept at millisecond precision; use [Entry.Normalize] (or build
// times with [Millis]) so a round trip through any store compares equal.
type Entry struct {
	// Key is the store key: [KeyFromToken] of the session token, never the
	// token itself. 43 characters of base64url.
	Key string
	// Version increases by at least one on every Put. 0 never names a stored
	// entry: it is the "must not exist" expectation of a create.
	Version uint64
	// UserID is the application's user id, plain, for the per-user index.
	// Empty for anonymous sessions. Any bytes are allowed.
	UserID string
	// Created is when the session was first stored.
	Created time.Time
	// LastActivity is the last time the session was used.
	LastActivity time.Time
	// IdleDeadline: the entry is dead at or after this instant unless
	// refreshed ([Store.Touch]).
	IdleDeadline time.Time
	// AbsoluteDeadline: the entry is dead at or after this instant, whatever
	// its activity. Never extended, not even by rotation.
	AbsoluteDeadline time.Time
	// Payload is the sealed envelope. Opaque to stores.
	Payload []byte
}

// Deadline is the earlier of the idle and absolute deadlines: the instant
// the entry dies.
func (e *Entry) Deadline() time.Time {
	if e.AbsoluteDeadline.Before(e.IdleDeadline) {
		return e.AbsoluteDeadline
	}
	return e.IdleDeadline
}

// Expired reports whether the entry is dead at now.
func (e *Entry) Expired(now time.Time) bool { return !now.Before(e.Deadline()) }

// Normalize truncates every time to milliseconds in UTC, the precision all
// stores keep.
func (e *Entry) Normalize() {
	e.Created = Millis(e.Created)
	e.LastActivity = Millis(e.LastActivity)
	e.IdleDeadline = Millis(e.IdleDeadline)
	e.AbsoluteDeadline = Millis(e.AbsoluteDeadline)
}

// Clone returns a deep copy, so a caller can keep an entry a store handed
// out without sharing its payload slice.
func (e *Entry) Clone() *Entry {
	c := *e
	c.Payload = append([]byte(nil), e.Payload...)
	return &c
}

// Validate checks the parts of the contract every store enforces on Put.
func (e *Entry) Validate(prev uint64) error {
	switch {
	case e == nil:
		return ErrInvalid
	case !ValidKey(e.Key):
		return errors.Join(ErrInvalid, errors.New("malformed key"))
	case e.Version <= prev:
		return errors.Join(ErrInvalid, errors.New("version must be above the expected version"))
	case e.IdleDeadline.IsZero() || e.AbsoluteDeadline.IsZero():
		return errors.Join(ErrInvalid, errors.New("zero deadline"))
	}
	return nil
}

// Millis truncates t to milliseconds in UTC.
func Millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// Store is the contract every session backend implements. Every method is
// safe for concurrent use and honours ctx's deadline.
type Store interface {
	// Get returns the live entry under key. A missing, deleted or expired
	// entry (now at or past its Deadline) is ErrNotFound; an expired entry
	// is never returned, even if the backend has not purged it yet. Stored
	// bytes that cannot be decoded are ErrCorrupt. The returned entry is the
	// caller's to keep and modify.
	Get(ctx context.Context, key string) (*Entry, error)

	// Put stores e under e.Key if the stored version equals prev: a
	// compare-and-set.
	//   - prev == 0 is a create: it fails with ErrConflict if a live entry
	//     holds the key.
	//   - prev > 0 updates: it fails with ErrConflict if the stored version
	//     differs, and with ErrNotFound if no live entry holds the key. It
	//     never recreates a deleted or expired entry: that is what keeps a
	//     logged-out session dead when a slow request saves late.
	// e.Version must be above prev (ErrInvalid otherwise). An entry over the
	// store's size limit fails with ErrTooLarge and leaves the stored entry
	// intact. Of many concurrent Puts with the same prev, exactly one wins.
	Put(ctx context.Context, e *Entry, prev uint64) error

	// Delete removes the entry under key and its user index membership.
	// Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Touch refreshes an entry's activity without rewriting its payload or
	// changing its version: LastActivity becomes lastActivity and
	// IdleDeadline becomes idleDeadline (callers cap it at the absolute
	// deadline). A missing or expired entry is ErrNotFound.
	Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) error
}

// GetToucher is an optional capability: Get and a conditional Touch in one
// backend operation (one round trip on Redis). Detect it once, at
// construction.
type GetToucher interface {
	// GetTouch is Get, and when the entry's LastActivity is before
	// touchBefore it also refreshes the entry as Touch(key, now,
	// min(now+idle, AbsoluteDeadline)) would, atomically. The returned entry
	// reflects the refresh when one happened.
	GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (*Entry, error)
}

// UserIndex is the per-user index every session backend in this module
// offers: it lists and deletes a user's sessions without a scan.
type UserIndex interface {
	// ListUser returns the user's live entries, oldest Created first, with
	// their payloads (so a caller can show device details without one Get
	// per entry). Expired and deleted entries are never listed. An unknown
	// user is an empty list, not an error.
	ListUser(ctx context.Context, userID string) ([]*Entry, error)

	// DeleteUser deletes every entry of the user except the one under
	// keep ("" keeps none) and returns how many it deleted.
	DeleteUser(ctx context.Context, userID string, keep string) (int, error)
}

// Pinger is an optional capability for health checks.
type Pinger interface {
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
}

// DefaultMaxPayload is the sealed payload size stores accept when their
// options leave the limit at zero: 1 MiB.
const DefaultMaxPayload = 1 << 20

// Copier is an optional capability used to copy entries between stores
// (hybrid mirroring and recovery, storage-mode switches), where
// versions decide which copy is newer.
type Copier interface {
	// CopyIn stores e as it is, version included, unless the store holds a
	// live entry under e.Key at a version >= e.Version. An expired e is not
	// written. It reports whether it wrote.
	CopyIn(ctx context.Context, e *Entry) (bool, error)
}

// BatchCopier is an optional capability of a [Copier] that copies many
// entries in one transaction (a group commit of mirror writes): one
// round of durable I/O for the lot instead of one each.
type BatchCopier interface {
	// CopyInBatch applies CopyIn to each of es, in order, in one
	// transaction. The results follow es: whether each entry was written,
	// or why it was refused (an invalid entry is refused alone). An error
	// means the transaction failed and nothing was written.
	CopyInBatch(ctx context.Context, es []*Entry) ([]CopyResult, error)
}

// CopyResult is the outcome of one entry of [BatchCopier.CopyInBatch].
type CopyResult struct {
	// Wrote reports whether the entry was written.
	Wrote bool
	// Err is why the entry was refused (wrapping ErrInvalid or
	// ErrTooLarge), or nil.
	Err error
}

// Broker is an optional capability that carries session events between
// app instances (cross-tab and cross-instance sync).
type Broker interface {
	// Publish sends msg to every current subscriber of topic. Topics are
	// built by this module from handles and hashes: never from raw input.
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe delivers messages published to any of topics until ctx is
	// done, then closes the channel. Delivery is best effort: a slow
	// reader may miss messages, never block publishers. A nil message
	// says the subscription was re-established after a connection loss:
	// messages published meanwhile were missed, so the reader should
	// refetch whatever state the messages would have told it.
	Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error)
}
