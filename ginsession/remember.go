package ginsession

import (
	"context"
	"errors"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// keyLife holds a login's own lifetime choices (see LoginOptions). It is
// absent from sessions that keep the configured ones, which pay nothing.
// Sealed with the values, so a store writer cannot lengthen a session's
// idle timeout, and carried by every rotation as the other values are.
const keyLife = "\x00l"

// LoginOptions shape one login's session. The zero value is an ordinary
// login: a browser-session cookie (unless Config.Cookie.Persistent), the
// configured IdleTimeout and AbsoluteTimeout.
type LoginOptions struct {
	// Remember makes the cookie persistent (Max-Age is the time left to
	// the session's absolute deadline, so it never outlives the session)
	// and gives the session Config.RememberLifetime instead of
	// AbsoluteTimeout. Its idle timeout defaults to that lifetime too: a
	// remembered session that died after the usual two idle hours would
	// leave the browser a cookie for nothing.
	Remember bool
	// Lifetime is this session's absolute lifetime from the login. Default
	// AbsoluteTimeout, or RememberLifetime when Remember; capped at
	// RememberLifetime, so no caller can mint a session that outlives the
	// configured maximum.
	Lifetime time.Duration
	// IdleTimeout ends this session when unused for this long. Default
	// Config.IdleTimeout, or the lifetime when Remember. It is capped at
	// the lifetime: the absolute deadline always wins.
	IdleTimeout time.Duration
}

// ErrLoginOptions wraps the error of LoginOptions that make no sense (a
// negative duration).
var ErrLoginOptions = errors.New("ginsession: invalid login options")

// life is what keyLife holds.
type life struct {
	//lint:ignore U1000 read by msgpack through its tag: a compact array
	_msgpack struct{} `msgpack:",as_array"`
	Remember bool
	IdleMs   int64 // 0: Config.IdleTimeout
}

// resolve turns a login's options into its absolute lifetime and the
// record to keep (nil when it matches the configuration).
func (m *Manager) resolve(opts []LoginOptions) (time.Duration, *life, error) {
	var o LoginOptions
	for _, x := range opts {
		o = x // the last one wins, as with any repeated option
	}
	if o.Lifetime < 0 || o.IdleTimeout < 0 {
		return 0, nil, ErrLoginOptions
	}
	cfg := &m.cfg
	lifetime := cfg.AbsoluteTimeout
	if o.Remember {
		lifetime = cfg.RememberLifetime
	}
	if o.Lifetime > 0 {
		lifetime = o.Lifetime
	}
	lifetime = min(lifetime, cfg.RememberLifetime)
	idle := o.IdleTimeout
	if idle == 0 && o.Remember {
		idle = lifetime
	}
	idle = min(idle, lifetime)
	if idle == cfg.IdleTimeout {
		idle = 0
	}
	if !o.Remember && idle == 0 {
		return lifetime, nil, nil
	}
	ms := idle.Milliseconds()
	if idle > 0 && ms == 0 {
		ms = 1 // 0 would read as "the configured one"
	}
	return lifetime, &life{Remember: o.Remember, IdleMs: ms}, nil
}

// life returns the session's own lifetime choices; the zero life when it
// keeps the configured ones. Called with s.mu held.
func (s *Session) life() life {
	var l life
	if raw := s.values[keyLife]; raw != nil {
		if store.DecodeValue(raw, &l, s.m.cfg.Limits) != nil {
			return life{}
		}
	}
	return l
}

// idleTimeout is the session's idle timeout. Called with s.mu held.
func (s *Session) idleTimeout() time.Duration {
	if s.values[keyLife] == nil {
		return s.m.cfg.IdleTimeout
	}
	if l := s.life(); l.IdleMs > 0 {
		return time.Duration(l.IdleMs) * time.Millisecond
	}
	return s.m.cfg.IdleTimeout
}

// persistent reports whether the session's cookie carries Max-Age. Called
// with s.mu held.
func (s *Session) persistent() bool {
	return s.m.cfg.Cookie.Persistent || s.values[keyLife] != nil && s.life().Remember
}

// fixIdle corrects the idle deadline a store's GetTouch just set with the
// configured idle timeout, for a session with its own: the store cannot
// know it before the envelope is opened. Costs a second write once per
// TouchInterval, for such sessions only.
func (s *Session) fixIdle(ctx context.Context, e *store.Entry, now time.Time) {
	if s.values[keyLife] == nil || !e.LastActivity.Equal(store.Millis(now)) {
		return
	}
	want := store.Millis(minTime(now.Add(s.idleTimeout()), e.AbsoluteDeadline))
	if want.Equal(e.IdleDeadline) {
		return
	}
	if err := s.m.cfg.Store.Touch(ctx, e.Key, store.Millis(now), want); err != nil {
		s.m.cfg.Logger.WarnContext(ctx, "ginsession: refresh", "session", store.Handle(e.Key), "err", err)
		return
	}
	e.IdleDeadline = want
}

// Remembered reports whether the session was logged in with
// LoginOptions.Remember. A store error counts as not remembered.
func (s *Session) Remembered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load() != nil {
		return false
	}
	return s.values[keyLife] != nil && s.life().Remember
}
