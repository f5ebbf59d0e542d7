package ginsession

import (
	"context"
	"time"
)

// EventKind names what happened to a session.
type EventKind string

// Event kinds. One type, many consumers: the audit trail, metrics, and the
// cross-tab stream all read the same events.
const (
	EventCreated           EventKind = "created"
	EventLogin             EventKind = "login"
	EventLogout            EventKind = "logout"
	EventRotated           EventKind = "rotated"
	EventPlatformSwitched  EventKind = "platform_switched"
	EventRevoked           EventKind = "revoked"
	EventEvicted           EventKind = "evicted"
	EventExpired           EventKind = "expired"
	EventRejected          EventKind = "rejected"
	EventFallbackEngaged   EventKind = "fallback_engaged"
	EventFallbackRecovered EventKind = "fallback_recovered"
)

// Reasons carried in Event.Detail for EventRejected.
const (
	RejectMalformed   = "malformed"   // the cookie is not a token this library issues
	RejectUnknown     = "unknown"     // no live session under the token
	RejectDecrypt     = "decrypt"     // the sealed payload does not open
	RejectCorrupt     = "corrupt"     // the stored bytes or values do not decode
	RejectFingerprint = "fingerprint" // the client does not match the session's fingerprint
	RejectConflict    = "conflict"    // a session cookie and a header token in one request (ErrTokenConflict)
)

// Event is one thing that happened to a session. It never carries a token:
// Session is the non-secret handle (store.Handle).
type Event struct {
	Kind      EventKind `json:"kind"`
	Time      time.Time `json:"time"`
	Session   string    `json:"session,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	// Detail: the reject reason, the new handle of a rotation, the platform
	// switched to, and so on.
	Detail string `json:"detail,omitempty"`
	// Name is the emitting manager's Config.Name ("" for the default
	// session), so one consumer shared by several sessions tells them apart.
	Name string `json:"name,omitempty"`
}

// EventHandler consumes events. It runs on the caller's goroutine and must
// not block: hand I/O off to a queue.
type EventHandler func(Event)

// Rotation describes a token rotation to a [RotateHook]: handles only,
// never tokens.
type Rotation struct {
	Old    string // handle of the session before; empty for a new session, which had none
	New    string // handle of the session after
	UserID string // the user after the rotation ("" for anonymous)
	Reason string // "login", "rotate", or an application's reason
}

// RotateHook runs before a rotation takes effect; an error vetoes it and is
// returned, wrapped with ErrRotateVetoed, by Login or Rotate.
type RotateHook func(ctx context.Context, r Rotation) error

// Emit sends an event about this session, with its handle, user and client
// filled in. Packages that extend sessions (platform switching, say) use it
// so every consumer sees one stream.
func (s *Session) Emit(kind EventKind, detail string) {
	s.mu.Lock()
	key, userID := "", ""
	if s.entry != nil {
		key, userID = s.entry.Key, s.entry.UserID
	}
	s.mu.Unlock()
	s.m.Emit(s.event(kind, key, userID, detail))
}

// Manager returns the manager the session belongs to.
func (s *Session) Manager() *Manager { return s.m }
