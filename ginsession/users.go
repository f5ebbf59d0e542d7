package ginsession

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Errors of per-user session management.
var (
	// ErrNoIndex: the store offers no per-user index (store.UserIndex).
	ErrNoIndex = errors.New("ginsession: the store has no per-user index")
	// ErrSessionNotFound: no live session of this user has that handle.
	ErrSessionNotFound = errors.New("ginsession: no such session")
	// ErrTooManySessions: login refused by the LimitRejectNew policy.
	ErrTooManySessions = errors.New("ginsession: too many sessions for this user")
)

// LimitPolicy says what a login does when the user already has
// Config.MaxSessionsPerUser live sessions.
type LimitPolicy int

const (
	// LimitEvictOldest (the default) ends the user's oldest sessions so the
	// new login fits. The newest login wins, which is often what a user who
	// lost a device wants, and also what an attacker with the password gets:
	// pair it with login notifications (the "login" and "evicted" events).
	LimitEvictOldest LimitPolicy = iota
	// LimitRejectNew refuses the new login while the limit is reached. An
	// attacker cannot push the user out, but a user who lost a device must
	// wait for its sessions to expire or revoke them elsewhere.
	LimitRejectNew
)

// Device is one live session of a user as a "your devices" page lists it
// ([Manager.UserSessions]): where and when it was used, never its token.
type Device struct {
	Handle       string    `json:"id"`
	Created      time.Time `json:"created_at"`
	LastActivity time.Time `json:"last_activity"`
	ExpiresAt    time.Time `json:"expires_at"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"user_agent"`
	Current      bool      `json:"current"`
	// Remembered: logged in with LoginOptions.Remember.
	Remembered bool `json:"remembered"`
	values     map[string][]byte
	limits     store.Limits
}

// DeviceValue decodes an application value of a listed session (its
// platform, say) into a T.
func DeviceValue[T any](si Device, key string) (T, error) {
	var v T
	raw := si.values[key]
	if raw == nil || key == "" || key[0] == 0 {
		return v, ErrNoValue
	}
	return v, store.DecodeValue(raw, &v, si.limits)
}

func (m *Manager) userIndex() (store.UserIndex, error) {
	if m.index == nil {
		return nil, ErrNoIndex
	}
	return m.index, nil
}

// UserSessions lists the user's live sessions, oldest first. Device details
// come from sessions stored with Config.RecordDevice.
func (m *Manager) UserSessions(ctx context.Context, userID string) ([]Device, error) {
	ix, err := m.userIndex()
	if err != nil {
		return nil, err
	}
	entries, err := ix.ListUser(ctx, userID)
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	now := m.cfg.Now()
	out := make([]Device, 0, len(entries))
	for _, e := range entries {
		if e.Expired(now) || e.UserID != userID {
			continue
		}
		vals, ok := m.ownedBy(e, userID)
		if !ok {
			continue
		}
		si := Device{Handle: store.Handle(e.Key), Created: e.Created, LastActivity: e.LastActivity,
			ExpiresAt: e.Deadline(), values: vals, limits: m.cfg.Limits}
		var l life
		if raw := vals[keyLife]; raw != nil && store.DecodeValue(raw, &l, m.cfg.Limits) == nil {
			si.Remembered = l.Remember
		}
		var d device
		if raw := vals[keyDevice]; raw != nil && store.DecodeValue(raw, &d, m.cfg.Limits) == nil {
			si.IP, si.UserAgent = d.IP, d.UserAgent
		}
		out = append(out, si)
	}
	return out, nil
}

// RevokeSession ends one of the user's sessions by handle. It is dead on
// the next request on every app instance, since the store is the truth.
// Emits "revoked".
func (m *Manager) RevokeSession(ctx context.Context, userID, handle string) error {
	ix, err := m.userIndex()
	if err != nil {
		return err
	}
	entries, err := ix.ListUser(ctx, userID)
	if err != nil {
		return wrap("revoke", err)
	}
	for _, e := range entries {
		if store.Handle(e.Key) != handle {
			continue
		}
		if _, ok := m.ownedBy(e, userID); !ok {
			break
		}
		if err := m.kill(ctx, e.Key, e); err != nil {
			return wrap("revoke", err)
		}
		m.Emit(Event{Kind: EventRevoked, Session: handle, UserID: userID})
		return nil
	}
	return ErrSessionNotFound
}

// ownedBy opens a listed entry and reports whether it is a live session
// that really belongs to userID: the plaintext user id a store keeps for
// its index must match the sealed one, or a store writer could list and
// revoke another user's sessions.
func (m *Manager) ownedBy(e *store.Entry, userID string) (map[string][]byte, bool) {
	if e.UserID != userID || e.Expired(m.cfg.Now()) {
		return nil, false
	}
	vals, _, reason := m.open(e)
	if reason != "" || dead(vals) || !m.bound(e, vals) {
		return nil, false
	}
	return vals, true
}

// RevokeUser ends every session of the user except the one with handle
// keep ("" keeps none): "log out everywhere", or after a password change.
// It returns how many sessions it ended. Emits "revoked" for each.
func (m *Manager) RevokeUser(ctx context.Context, userID, keep string) (int, error) {
	ix, err := m.userIndex()
	if err != nil {
		return 0, err
	}
	entries, err := ix.ListUser(ctx, userID)
	if err != nil {
		return 0, wrap("revoke", err)
	}
	kept := false
	var victims []*store.Entry
	for _, e := range entries {
		if _, ok := m.ownedBy(e, userID); !ok {
			continue
		}
		if keep != "" && store.Handle(e.Key) == keep {
			kept = true
			continue
		}
		victims = append(victims, e)
	}
	if keep != "" && !kept {
		return 0, ErrSessionNotFound
	}
	n := 0
	for _, e := range victims {
		if err := m.kill(ctx, e.Key, e); err != nil {
			return n, wrap("revoke", err)
		}
		n++
		m.Emit(Event{Kind: EventRevoked, Session: store.Handle(e.Key), UserID: userID})
	}
	return n, nil
}

// UserSessions lists the sessions of the request's user, marking the
// caller's own. Anonymous sessions get ErrNoSession.
func (s *Session) UserSessions(ctx context.Context) ([]Device, error) {
	userID, handle, err := s.identity()
	if err != nil {
		return nil, err
	}
	list, err := s.m.UserSessions(ctx, userID)
	for i := range list {
		list[i].Current = list[i].Handle == handle
	}
	return list, err
}

// RevokeOthers ends every other session of the request's user (after a
// password change, say) and keeps this one.
func (s *Session) RevokeOthers(ctx context.Context) (int, error) {
	userID, handle, err := s.identity()
	if err != nil {
		return 0, err
	}
	return s.m.RevokeUser(ctx, userID, handle)
}

// LogoutEverywhere ends every session of the session's user, this one
// included, and expires the cookie.
func (s *Session) LogoutEverywhere(ctx context.Context) (int, error) {
	userID, _, err := s.identity()
	if err != nil {
		return 0, err
	}
	n, err := s.m.RevokeUser(ctx, userID, "")
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	s.reset()
	s.clearCookie = true
	s.mu.Unlock()
	return n, nil
}

func (s *Session) identity() (userID, handle string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", "", err
	}
	if s.entry == nil || s.entry.UserID == "" {
		return "", "", ErrNoSession
	}
	if s.pending {
		// A login of this request left its entry to the commit: store it
		// now, so the user's listing sees it (and revocations spare it).
		ctx, cancel := s.m.storeCtx(s.c.Request.Context())
		defer cancel()
		if err := s.createPending(ctx, s.m.cfg.Now()); err != nil {
			return "", "", err
		}
	}
	return s.entry.UserID, store.Handle(s.entry.Key), nil
}

// enforceLimit applies MaxSessionsPerUser after a login stored newKey.
//
// It is race-free without locks on any store, Redis Cluster included: every
// login lists the user's sessions after its own write and orders them by
// (Created, Key), a total order all instances agree on. With evict-oldest,
// the login that lists last sees every session written before it and keeps
// the newest N; earlier listers only ever evict sessions that have N newer
// ones, so they never evict one of the final N. With reject-new, a login
// that sees N others removes itself; of any N+1 survivors the last to list
// would have seen the other N. Concurrent logins may thus end with fewer
// than N sessions, never more.
func (s *Session) enforceLimit(ctx context.Context, userID, newKey string) error {
	limit := s.m.cfg.MaxSessionsPerUser
	ix := s.m.index
	if limit <= 0 || ix == nil {
		return nil
	}
	listed, err := ix.ListUser(ctx, userID)
	if err != nil {
		return wrap("session limit", err)
	}
	var entries []*store.Entry
	for _, e := range listed {
		if _, ok := s.m.ownedBy(e, userID); ok {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b *store.Entry) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if s.m.cfg.LimitPolicy == LimitRejectNew {
		others := 0
		for _, e := range entries {
			if e.Key != newKey {
				others++
			}
		}
		if others >= limit {
			_ = s.m.kill(ctx, newKey, s.entry)
			s.reset()
			return ErrTooManySessions
		}
		return nil
	}
	for i := 0; i < len(entries)-limit; i++ {
		e := entries[i]
		if err := s.m.kill(ctx, e.Key, e); err != nil {
			return wrap("session limit", err)
		}
		s.m.Emit(Event{Kind: EventEvicted, Session: store.Handle(e.Key), UserID: userID})
		if e.Key == newKey {
			s.reset()
		}
	}
	return nil
}
