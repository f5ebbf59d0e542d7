package ginsession

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"strconv"
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
	m  *Manager
	c  *gin.Context
	mu sync.Mutex

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
	tok, reason := s.m.readToken(s.c.Request)
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
	ctx, ob := store.Observe(ctx, cfg.Observer, "session", store.OpLoad)
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
	if cfg.RotateEvery > 0 && now.Sub(s.rotatedAt()) >= cfg.RotateEvery {
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

func checkKey(key string) error {
	if key == "" || key[0] == 0 {
		return ErrReservedKey
	}
	return nil
}

// Get decodes the value under key into a T. A missing key is ErrNoValue; a
// value that does not decode into T is an error wrapping store.ErrDecode.
// No type registration is ever needed.
func Get[T any](s *Session, key string) (T, error) {
	var v T
	if err := checkKey(key); err != nil {
		return v, err
	}
	raw, err := s.raw(key)
	if err != nil {
		return v, err
	}
	if raw == nil {
		return v, ErrNoValue
	}
	if err := store.DecodeValue(raw, &v, s.m.cfg.Limits); err != nil {
		var te *store.TypeError
		if errors.As(err, &te) {
			return v, &ValueTypeError{Key: key, TypeError: te}
		}
		return v, wrap("get", err)
	}
	return v, nil
}

// ValueTypeError is Get's error when the stored value is of another kind
// than T, as in `session value "k" is an integer, not a string`. It wraps
// the codec's *store.TypeError, and so store.ErrDecode.
type ValueTypeError struct {
	Key string
	*store.TypeError
}

func (e *ValueTypeError) Error() string {
	return "ginsession: session value " + strconv.Quote(e.Key) + " is " + e.Stored + ", not " + e.Target
}

// Unwrap returns the codec's error.
func (e *ValueTypeError) Unwrap() error { return e.TypeError }

// GetOr is Get with a default for a missing or undecodable value, and for a
// store failure (which is still reported by the next Set or the commit).
func GetOr[T any](s *Session, key string, def T) T {
	v, err := Get[T](s, key)
	if err != nil {
		return def
	}
	return v
}

func (s *Session) raw(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	return s.values[key], nil
}

// Set encodes v (msgpack) and records it under key. Encoding errors and size
// limits are reported here, at the call, not at the commit.
func (s *Session) Set(key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	raw, err := store.EncodeValue(v, s.m.cfg.Limits)
	if err != nil {
		return wrap("set", err)
	}
	return s.setRaw(key, raw)
}

func (s *Session) setRaw(key string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("set"); err != nil {
		return err
	}
	if s.size()-len(s.values[key])+len(raw)+len(key)+5 > s.m.cfg.Limits.MaxSize {
		return wrap("set", store.ErrTooLarge) // refused: nothing changes, not even the dirty flag
	}
	s.put(key, raw)
	return nil
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) (bool, error) {
	raw, err := s.raw(key)
	return raw != nil, err
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("delete"); err != nil {
		return err
	}
	s.del(key)
	return nil
}

// Keys returns the application's keys (not this package's own).
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.values))
	for k := range s.values {
		if k[0] != 0 {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Clear removes every application value. Identity and CSRF token stay: use
// Logout to end the session.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("clear"); err != nil {
		return err
	}
	for k := range s.values {
		if k[0] != 0 {
			s.del(k)
		}
	}
	return nil
}

// AddFlash appends a one-time message, read back (and removed) by Flashes.
func (s *Session) AddFlash(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("flash"); err != nil {
		return err
	}
	var list []string
	if raw := s.values[keyFlashes]; raw != nil {
		_ = store.DecodeValue(raw, &list, s.m.cfg.Limits)
	}
	raw, err := store.EncodeValue(append(list, msg), s.m.cfg.Limits)
	if err != nil {
		return wrap("flash", err)
	}
	s.put(keyFlashes, raw)
	return nil
}

// Flashes returns the pending one-time messages and removes them: an empty,
// non-nil slice when there are none (JSON []). After the commit it is
// ErrCommitted, since the removal could not be saved.
func (s *Session) Flashes() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	list := []string{}
	raw := s.values[keyFlashes]
	if raw == nil {
		return list, nil
	}
	if err := s.late("flashes"); err != nil {
		return nil, err
	}
	err := store.DecodeValue(raw, &list, s.m.cfg.Limits)
	if list == nil {
		list = []string{}
	}
	s.del(keyFlashes)
	return list, err
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
	return Info{store.Handle(e.Key), e.UserID, e.Created, e.LastActivity, e.IdleDeadline, e.AbsoluteDeadline}, true, nil
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

// Save commits the session now instead of before the headers. Handlers
// rarely need it: use it before a long stream, or to handle the error.
func (s *Session) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.observeSave()
	if err == nil {
		s.dirty = false
	}
	return err
}

// commit saves once, just before the headers go out.
func (s *Session) commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.committed {
		return s.commitErr
	}
	s.committed = true
	if s.loadErr != nil {
		// The store failed when the session was read: the handler saw the
		// error, and the response must not pretend otherwise (a 503 when
		// the store is unavailable).
		s.commitErr = s.loadErr
		s.m.cfg.Logger.ErrorContext(s.reqContext(), "ginsession: load", "err", s.commitErr)
		return s.commitErr
	}
	s.commitErr = s.observeSave()
	if s.commitErr != nil {
		s.m.cfg.Logger.ErrorContext(s.reqContext(), "ginsession: save", append(s.handleAttr(), "err", s.commitErr)...)
	}
	return s.commitErr
}

func (s *Session) save() error {
	if !s.loaded || s.loadErr != nil {
		return nil
	}
	now := s.m.cfg.Now()
	var err error
	// Each branch that calls the store makes its own context: most reads
	// have nothing to write, and a context costs allocations.
	switch {
	case s.pending:
		ctx, cancel := s.m.storeCtx(s.reqContext())
		err = s.createPending(ctx, now)
		cancel()
	case s.entry == nil && s.dirty:
		ctx, cancel := s.m.storeCtx(s.reqContext())
		err = s.create(ctx, now)
		cancel()
	case s.entry == nil:
	case s.dirty:
		ctx, cancel := s.m.storeCtx(s.reqContext())
		err = s.groupUpdate(ctx, now)
		cancel()
	case s.m.getTouch == nil && s.entry.LastActivity.Before(now.Add(-s.m.cfg.TouchInterval)):
		ctx, cancel := s.m.storeCtx(s.reqContext())
		s.touch(ctx, now)
		cancel()
	}
	if err != nil {
		return err
	}
	s.dirty = false
	s.writeCookie(now)
	return nil
}

func (s *Session) touch(ctx context.Context, now time.Time) {
	e := s.entry
	idle := minTime(now.Add(s.m.cfg.IdleTimeout), e.AbsoluteDeadline)
	err := s.m.cfg.Store.Touch(ctx, e.Key, store.Millis(now), store.Millis(idle))
	switch {
	case err == nil:
		e.LastActivity, e.IdleDeadline = store.Millis(now), store.Millis(idle)
	case errors.Is(err, store.ErrNotFound):
		// Ended meanwhile (logout elsewhere): nothing to refresh.
	default:
		// A failed refresh costs the session at most TouchInterval of idle
		// time; it is no reason to fail the request.
		s.m.cfg.Logger.WarnContext(ctx, "ginsession: refresh", "session", store.Handle(e.Key), "err", err)
	}
}

func (s *Session) writeCookie(now time.Time) {
	switch {
	case s.entry != nil && (s.setCookie || s.m.cfg.Cookie.Persistent && s.dirtyCookie(now)):
		maxAge := 0
		if s.m.cfg.Cookie.Persistent {
			maxAge = max(int((s.entry.AbsoluteDeadline.Sub(now)+time.Second-1)/time.Second), 1) // round up: ms truncation must not shave a second
		}
		s.c.Writer.Header().Add("Set-Cookie", s.m.cookie(s.token.String(), maxAge).String())
	case s.entry == nil && s.clearCookie:
		s.c.Writer.Header().Add("Set-Cookie", s.m.cookie("", -1).String())
	}
	s.setCookie, s.clearCookie = false, false
}

// dirtyCookie: a persistent cookie is re-sent only when the session was
// written, so its Max-Age follows the absolute deadline without a
// Set-Cookie on every response.
func (s *Session) dirtyCookie(now time.Time) bool {
	return s.entry.LastActivity.Equal(store.Millis(now))
}

func (s *Session) newEntry(key, userID string, created, abs, now time.Time, payload []byte) *store.Entry {
	e := &store.Entry{
		Key:              key,
		Version:          1,
		UserID:           userID,
		Created:          created,
		LastActivity:     now,
		IdleDeadline:     minTime(now.Add(s.m.cfg.IdleTimeout), abs),
		AbsoluteDeadline: abs,
		Payload:          payload,
	}
	e.Normalize()
	return e
}

// create stores a new session under a fresh token.
func (s *Session) create(ctx context.Context, now time.Time) error {
	s.recordDevice()
	abs := now.Add(s.m.cfg.AbsoluteTimeout)
	for range 3 {
		tok := store.NewToken()
		key := tok.Key()
		e := s.newEntry(key, "", now, abs, now, nil)
		payload, err := s.m.seal(e, s.values)
		if err != nil {
			return wrap("save", err)
		}
		e.Payload = payload
		err = s.m.cfg.Store.Put(ctx, e, 0)
		if errors.Is(err, store.ErrConflict) {
			continue // a 256-bit collision: take another token
		}
		if err != nil {
			return wrap("save", err)
		}
		s.token, s.entry, s.setCookie = tok, e, true
		s.delta = nil
		s.m.Emit(s.event(EventCreated, key, "", ""))
		return nil
	}
	return wrap("save", store.ErrConflict)
}

// createPending stores the entry a login prepared (see rotate) with every
// value set since: one Put, a create, where storing at the login and again
// at the commit took two. Its creation time and deadlines are the login's,
// as sealed; only its activity is the commit's.
func (s *Session) createPending(ctx context.Context, now time.Time) error {
	p := s.entry
	e := s.newEntry(p.Key, p.UserID, p.Created, p.AbsoluteDeadline, now, nil)
	payload, err := s.m.seal(e, s.values)
	if err != nil {
		return wrap("save", err)
	}
	e.Payload = payload
	if err := s.m.cfg.Store.Put(ctx, e, 0); err != nil {
		return wrap("save", err)
	}
	s.entry, s.pending = e, false
	s.delta = nil
	return nil
}

// update saves the delta with a compare-and-set on the version. When
// another request won, the delta is re-applied on the fresh copy: requests
// that change different keys never lose each other's changes; on the same
// key the last writer wins. A session deleted meanwhile stays deleted.
func (s *Session) update(ctx context.Context, now time.Time) error {
	st := s.m.cfg.Store
	for attempt := 0; ; attempt++ {
		prev := s.entry
		e := &store.Entry{
			Key: prev.Key, Version: prev.Version + 1, UserID: prev.UserID,
			Created: prev.Created, LastActivity: now,
			IdleDeadline:     minTime(now.Add(s.m.cfg.IdleTimeout), prev.AbsoluteDeadline),
			AbsoluteDeadline: prev.AbsoluteDeadline,
		}
		e.Normalize()
		payload, err := s.m.seal(e, s.values)
		if err != nil {
			return wrap("save", err)
		}
		e.Payload = payload
		err = st.Put(ctx, e, prev.Version)
		switch {
		case err == nil:
			s.entry = e
			s.delta = nil
			return nil
		case errors.Is(err, store.ErrNotFound):
			s.ended()
			return nil
		case !errors.Is(err, store.ErrConflict) || attempt >= s.m.cfg.MaxConflictRetries:
			return wrap("save", err)
		}
		s.obs.retries = attempt + 1
		if err := backoff(ctx, attempt); err != nil {
			return wrap("save", err)
		}
		fresh, err := st.Get(ctx, prev.Key)
		if errors.Is(err, store.ErrNotFound) {
			s.ended()
			return nil
		}
		if err != nil {
			return wrap("save", err)
		}
		vals, _, reason := s.m.open(fresh)
		if reason != "" {
			return wrap("save", errors.New("fresh copy does not open: "+reason))
		}
		if vals[keyTomb] != nil || (vals[keyForward] == nil && !s.m.bound(fresh, vals)) {
			s.ended()
			return nil
		}
		if fwd := vals[keyForward]; fwd != nil {
			// Rotated meanwhile: carry this request's changes to the successor.
			tok, succ, svals, err := s.follow(ctx, s.token, fwd)
			if err != nil {
				return wrap("save", err)
			}
			if succ == nil {
				s.ended()
				return nil
			}
			s.token, fresh, vals, s.setCookie = tok, succ, svals, true
		}
		s.applyDelta(vals)
		s.entry, s.values = fresh, vals
	}
}

// ended handles a session deleted by someone else (logout in another tab,
// revocation) while this request held it: its changes die with it.
func (s *Session) ended() {
	s.reset()
}

func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 5), 20*time.Millisecond)) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// device is what RecordDevice keeps: enough for a session list.
type device struct {
	IP        string `msgpack:"i"`
	UserAgent string `msgpack:"a"`
}

const maxUserAgent = 256

func (s *Session) recordDevice() {
	if !s.m.cfg.RecordDevice || s.c == nil || s.c.Request == nil {
		return
	}
	ua := s.c.Request.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	if raw, err := store.EncodeValue(device{s.c.ClientIP(), ua}, s.m.cfg.Limits); err == nil {
		s.put(keyDevice, raw)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = cryptoRead(b)
	return b
}

var cryptoRead = crand.Read

// applyDelta re-applies this request's changes onto a fresh copy of the
// values (a save or a rotation that lost a compare-and-set).
func (s *Session) applyDelta(vals map[string][]byte) {
	for k, v := range s.delta {
		if v == nil {
			delete(vals, k)
		} else {
			vals[k] = v
		}
	}
}
