package ginsession

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/vedfolnir/sessions/store"
)

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
	idle := minTime(now.Add(s.idleTimeout()), e.AbsoluteDeadline)
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
	s.issued = s.issued || s.setCookie
	switch {
	case s.headerTok:
		// An API client: it learns a new token from the handler (Token).
	case s.entry != nil && (s.setCookie || s.persistent() && s.dirtyCookie(now)):
		maxAge := 0
		if s.persistent() {
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
		IdleDeadline:     minTime(now.Add(s.idleTimeout()), abs),
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
			IdleDeadline:     minTime(now.Add(s.idleTimeout()), prev.AbsoluteDeadline),
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
