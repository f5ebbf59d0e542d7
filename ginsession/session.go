package ginsession

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/internal/sealed"
	"github.com/vedfolnir/sessions/store"
)

// Errors of session access.
var (
	// ErrNoValue: the key holds no value.
	ErrNoValue = errors.New("ginsession: no value")
	// ErrReservedKey: keys starting with NUL belong to this package.
	ErrReservedKey = errors.New("ginsession: reserved or empty key")
	// ErrSaveFailed is returned by response writes after the session could
	// not be saved and the response was replaced (by a 503 when the store
	// is unavailable, a 500 otherwise).
	ErrSaveFailed = errors.New("ginsession: session could not be saved")
	// ErrCommitted is returned by Set, Delete, Clear, AddFlash, Flashes,
	// Login and Rotate once the session has been committed (the response
	// has started, or Middleware's own commit ran): the change could no
	// longer be saved, so it is refused, and logged once per request. Make
	// session changes before writing the response, or call Save.
	ErrCommitted = errors.New("ginsession: session already committed (the response has started); change not saved")
)

// Keys this package keeps in the session values. They start with NUL, which
// Set refuses, so an application key can never collide with them.
const (
	keyUser    = "\x00u"
	keyCSRF    = "\x00c"
	keyFlashes = "\x00f"
	keyDevice  = "\x00d"
	keyFinger  = "\x00p"
	keyRotated = "\x00r"
	keyForward = "\x00>"
)

// Session is one request's view of a session. It loads lazily: nothing is
// read from the store until a method needs it, and a request that never
// touches the session costs no store call. Changes are kept as a delta and
// committed just before the response headers are written.
//
// A Session belongs to its request; its methods are safe to call from the
// request's goroutines, but it must not be used after the request ends.
type Session struct {
	m    *Manager
	c    *gin.Context
	next *Session // the request's session of the middleware before, if any
	mu   sync.Mutex

	loaded     bool
	loadErr    error
	committed  bool
	commitErr  error
	lateWarned bool // a change after the commit was logged
	wrapped    bool
	w          writer // c.Writer once wrapped: part of the Session, not an allocation of its own

	token store.Token  // token of the stored session; "" while new
	entry *store.Entry // the stored entry as last read or written (pending: to write); nil while new
	// values and delta stay nil until something is put in them: most
	// requests only read, and a map costs an allocation even when empty.
	values map[string][]byte // current view: stored values with the delta applied
	delta  map[string][]byte // changes since load; a nil value is a delete
	clear  bool              // Clear was called: the delta applies to an empty map
	dirty  bool              // a save is needed (changes, or a re-seal under the active key)
	// pending: entry is a login's new entry, not stored yet. The commit
	// creates it with one Put, the values set after the login included.
	pending bool

	// user is values[keyUser] decoded, valid while userRaw equals it: bound
	// decodes the user on every load, and User need not do it again.
	user    *User
	userRaw []byte

	flagged     bool // the fingerprint did not match (FingerprintFlag)
	setCookie   bool // the token changed: send it
	clearCookie bool // the client's cookie names no session: expire it
	issued      bool // this request gave the session its token (see Token)
	headerTok   bool // the request sent a header token: no cookies for it
	fromHeader  bool // the session was loaded from that header token

	obs observed // the save observation in progress
}

// load reads the session on first use. Malformed, unknown, expired,
// undecryptable and tampered sessions become a fresh empty session (with an
// event saying why); only a store failure is an error.
func (s *Session) load() error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	if !s.wrapped {
		s.w = writer{ResponseWriter: s.c.Writer, s: s}
		s.c.Writer = &s.w
		s.wrapped = true
	}
	tok, viaHeader, reason := s.m.readToken(s.c.Request)
	s.headerTok = viaHeader
	if reason == RejectConflict {
		// The middleware refuses such requests; this is a session read
		// before it ran, or after it answered.
		s.loadErr = wrap("load", ErrTokenConflict)
		return s.loadErr
	}
	if reason != "" {
		s.reject("", "", reason)
		return nil
	}
	if tok == "" {
		return nil
	}
	key := tok.Key()
	cfg := &s.m.cfg
	now := cfg.Now()
	ctx, cancel := context.WithTimeout(s.c.Request.Context(), cfg.StoreTimeout)
	defer cancel()
	ctx, ob := store.Observe(ctx, cfg.Observer, s.m.observedAs, store.OpLoad)
	defer func() { ob.End(s.loadOutcome()) }()
	var e *store.Entry
	var err error
	if s.m.getTouch != nil {
		e, err = s.m.getTouch.GetTouch(ctx, key, now, cfg.IdleTimeout, now.Add(-cfg.TouchInterval))
	} else {
		e, err = cfg.Store.Get(ctx, key)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.reject(key, "", RejectUnknown)
		return nil
	case errors.Is(err, store.ErrCorrupt):
		s.reject(key, "", RejectCorrupt)
		return nil
	case err != nil:
		s.loadErr = wrap("load", err)
		return s.loadErr
	}
	if e.Expired(now) {
		s.m.Emit(s.event(EventExpired, key, e.UserID, ""))
		dctx, dcancel := s.m.storeCtx(s.c.Request.Context())
		defer dcancel()
		if err := cfg.Store.Delete(dctx, key); err != nil {
			cfg.Logger.WarnContext(dctx, "ginsession: delete expired session", "session", store.Handle(key), "err", err)
		}
		return nil
	}
	vals, stale, reason := s.m.open(e)
	if reason == "" && vals[keyTomb] != nil {
		reason = RejectUnknown // ended: logged out, revoked, evicted or rotated
	}
	if reason != "" {
		s.reject(key, e.UserID, reason)
		return nil
	}
	if fwd := vals[keyForward]; fwd != nil {
		// A periodically rotated token inside its grace window.
		var err error
		if tok, e, vals, err = s.follow(ctx, tok, fwd); err != nil || e == nil {
			s.loadErr = err
			return err
		}
		s.setCookie = true
	}
	u, ok := s.m.boundUser(e, vals)
	if !ok {
		s.reject(e.Key, e.UserID, RejectCorrupt)
		return nil
	}
	s.token, s.entry, s.values = tok, e, vals
	s.fromHeader = viaHeader
	s.user, s.userRaw = u, vals[keyUser]
	s.dirty = stale // sealed under an old key: re-seal under the active one
	if !s.checkFingerprint(tok) {
		s.m.Emit(s.event(EventRejected, e.Key, e.UserID, RejectFingerprint))
		if cfg.Fingerprint.Action == FingerprintFlag {
			s.flagged = true
		} else {
			dctx, dcancel := s.m.storeCtx(s.c.Request.Context())
			defer dcancel()
			// Ended as every session ends, by a tombstone: no older copy
			// (a hybrid mirror, a recovery) can bring it back.
			if err := s.m.kill(dctx, e.Key, e); err != nil {
				cfg.Logger.Warn("ginsession: end mismatched session", "session", store.Handle(e.Key), "err", err)
			}
			s.reset()
			return nil
		}
	}
	if s.m.getTouch != nil {
		s.fixIdle(ctx, e, now)
	}
	// A header client would never learn the new token: its handler
	// rotates it and answers Token.
	if cfg.RotateEvery > 0 && !viaHeader && now.Sub(s.rotatedAt()) >= cfg.RotateEvery {
		s.graceRotate(ctx, now)
	}
	return nil
}

// open decrypts and decodes an entry's values, or gives a reject reason.
func (m *Manager) open(e *store.Entry) (map[string][]byte, bool, string) {
	var buf [64]byte
	plain, stale, err := m.cfg.Keyring.OpenWith(e.Key, recordBound, bindings(buf[:0], e), e.Payload)
	if err != nil {
		// A record sealed before recordBound: its sealed copies of the
		// entry's fields are checked by bound, and its next save re-seals it.
		if plain, _, err = m.cfg.Keyring.Open(e.Key, recordSession, e.Payload); err != nil {
			return nil, false, RejectDecrypt
		}
		stale = true
	}
	vals, err := store.DecodeRecord(plain, m.cfg.Limits)
	if err != nil {
		return nil, false, RejectCorrupt
	}
	return vals, stale, ""
}

// seal encodes and seals values as the payload of e, whose key, user id,
// creation time and absolute deadline are bound into the envelope's
// associated data (set them, normalized, before sealing).
func (m *Manager) seal(e *store.Entry, values map[string][]byte) ([]byte, error) {
	for _, k := range legacyKeys {
		if values[k] != nil {
			values = cloneMap(values)
			for _, k := range legacyKeys {
				delete(values, k)
			}
			break
		}
	}
	rec, err := store.EncodeRecord(values, m.cfg.Limits)
	if err != nil {
		return nil, err
	}
	var buf [64]byte
	return m.cfg.Keyring.SealWith(e.Key, recordBound, bindings(buf[:0], e), rec)
}

// bindings appends the entry fields a recordBound envelope binds.
func bindings(buf []byte, e *store.Entry) []byte { return sealed.Bindings(buf, e) }

func (s *Session) reject(key, userID, reason string) {
	// Only a malformed cookie is expired in reply. A well-formed token that
	// names no live session may be a tab's stale copy racing the response
	// that just set a new cookie under the same name (a login or rotation
	// in another tab): expiring it would log that tab's user out.
	s.clearCookie = reason == RejectMalformed
	s.m.Emit(s.event(EventRejected, key, userID, reason))
}

func (s *Session) event(kind EventKind, key, userID, detail string) Event {
	ev := Event{Kind: kind, Time: s.m.cfg.Now().UTC(), UserID: userID, Detail: detail}
	if key != "" {
		ev.Session = store.Handle(key)
	}
	if s.c != nil && s.c.Request != nil {
		ev.IP = s.c.ClientIP()
		ev.UserAgent = s.c.Request.UserAgent()
	}
	return ev
}

// reset turns the session into a fresh, empty, unsaved one.
func (s *Session) reset() {
	s.token, s.entry, s.pending = "", nil, false
	s.values, s.delta = nil, nil
	s.clear, s.dirty, s.setCookie, s.clearCookie = false, false, false, false
}

func (s *Session) put(key string, raw []byte) {
	if s.values == nil {
		s.values = map[string][]byte{}
	}
	if s.delta == nil {
		s.delta = map[string][]byte{}
	}
	s.values[key] = raw
	s.delta[key] = raw
	s.dirty = true
}

func (s *Session) del(key string) {
	if _, ok := s.values[key]; !ok {
		return
	}
	delete(s.values, key)
	if s.delta == nil {
		s.delta = map[string][]byte{}
	}
	s.delta[key] = nil
	s.dirty = true
}

// size is the encoded size of the values, close enough to bound them at Set.
func (s *Session) size() int {
	n := 5
	for k, v := range s.values {
		n += len(k) + len(v) + 5
	}
	return n
}

// late refuses a change after the commit, logging the first one of the
// request. Called with s.mu held.
func (s *Session) late(op string) error {
	if !s.committed {
		return nil
	}
	if !s.lateWarned {
		s.lateWarned = true
		ev := []any{"op", op}
		if s.c != nil && s.c.Request != nil {
			ev = append(ev, "method", s.c.Request.Method, "path", s.c.Request.URL.Path)
		}
		s.m.cfg.Logger.ErrorContext(s.reqContext(), "ginsession: session changed after the response started; the change is not saved", ev...)
	}
	return wrap(op, ErrCommitted)
}

// Info describes the stored session. The zero Info (and ok false) means the
// session is new and not stored yet.
type Info struct {
	Handle           string
	UserID           string
	Created          time.Time
	LastActivity     time.Time
	IdleDeadline     time.Time
	AbsoluteDeadline time.Time
	// Remembered: logged in with LoginOptions.Remember.
	Remembered bool
}

// ExpiresAt is when the session ends if unused: the earlier deadline.
func (i Info) ExpiresAt() time.Time {
	if i.AbsoluteDeadline.Before(i.IdleDeadline) {
		return i.AbsoluteDeadline
	}
	return i.IdleDeadline
}

// Info returns the session's metadata. After Login it describes the new
// session, which the commit stores.
func (s *Session) Info() (Info, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return Info{}, false, err
	}
	if s.entry == nil {
		return Info{}, false, nil
	}
	e := s.entry
	return Info{store.Handle(e.Key), e.UserID, e.Created, e.LastActivity, e.IdleDeadline, e.AbsoluteDeadline,
		s.values[keyLife] != nil && s.life().Remember}, true, nil
}

// Handle returns the stored session's non-secret handle, or "" while the
// session is new.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil || s.entry == nil {
		return ""
	}
	return store.Handle(s.entry.Key)
}
