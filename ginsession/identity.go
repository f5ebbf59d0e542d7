package ginsession

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vedfolnir/sessions/store"
)

// User is who a session is logged in as.
type User struct {
	//lint:ignore U1000 read by msgpack through its tag: users encode as a compact array
	_msgpack struct{} `msgpack:",as_array"`
	// ID is the application's user id; it keys the per-user index.
	ID       string
	Username string
	Role     string
}

// ErrRotateVetoed wraps the error of a RotateHook that refused a rotation.
var ErrRotateVetoed = errors.New("ginsession: rotation vetoed")

// ErrNoUser: Login needs a user with a non-empty ID.
var ErrNoUser = errors.New("ginsession: user has no id")

// MaxUserIDLen is the longest User.ID Login accepts, in bytes (64 KiB less
// 64: the id and two times make up an envelope's extra associated data,
// at most 65,535 bytes); a longer one is an error wrapping
// store.ErrTooLarge.
const MaxUserIDLen = 64<<10 - 64

// CurrentUser returns the request's logged-in user, if any: the shortcut
// for the common check. A store error counts as "not logged in" here; use
// Current(c).User() to tell them apart.
func CurrentUser(c *gin.Context) (User, bool) { return CurrentUserNamed(c, "") }

// Login records u as the session's user and rotates the token at once: the
// old token is dead before this returns (no grace period for a privilege
// change), so a token planted before login (fixation) is worthless. Values
// set before login are kept when the session was anonymous or already
// logged in as the same user; a login over another user's session starts
// clean: none of that user's values (flashes included) carry over to the
// new one, as if they had logged out first. The CSRF token is renewed; the session gets a
// fresh creation time and absolute lifetime, since it starts a new
// authentication. Emits "login" and "rotated" ("created" when nothing was
// stored before).
//
// Without Config.MaxSessionsPerUser, the new entry is left to the commit,
// which stores it with whatever the handler sets after Login: one write,
// not two. An earlier stored entry is still ended here. A commit that fails
// answers 500, as any failed save does, after the login's events. With a
// limit, Login stores the entry itself: the limit's check must list the
// user's sessions after this one is stored.
//
// An optional LoginOptions shapes this session alone (remember me, its own
// lifetime and idle timeout); the choice is sealed in the session and every
// later rotation keeps it.
func (s *Session) Login(u User, opts ...LoginOptions) error {
	if u.ID == "" {
		return ErrNoUser
	}
	if len(u.ID) > MaxUserIDLen {
		return wrap("login", fmt.Errorf("%w: user id of %d bytes, at most %d", store.ErrTooLarge, len(u.ID), MaxUserIDLen))
	}
	lifetime, lf, err := s.m.resolve(opts)
	if err != nil {
		return wrap("login", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("login"); err != nil {
		return err
	}
	now := s.m.cfg.Now()
	// The id is the entry's user id, which the envelope binds: not sealed
	// twice.
	sealed := u
	sealed.ID = ""
	rawUser, err := store.EncodeValue(sealed, s.m.cfg.Limits)
	if err != nil {
		return wrap("login", err)
	}
	oldValues, oldDelta := cloneMap(s.values), cloneMap(s.delta)
	if s.entry != nil && s.entry.UserID != "" && s.entry.UserID != u.ID {
		s.dropUserValues()
	}
	s.put(keyUser, rawUser)
	if lf != nil {
		rawLife, err := store.EncodeValue(lf, s.m.cfg.Limits)
		if err != nil {
			s.values, s.delta = oldValues, oldDelta
			return wrap("login", err)
		}
		s.put(keyLife, rawLife)
	} else {
		s.del(keyLife)
	}
	oldKey := ""
	if s.entry != nil {
		oldKey = s.entry.Key
	}
	limited := s.m.cfg.MaxSessionsPerUser > 0
	if err := s.rotate("login", u.ID, now.Add(lifetime), now, !limited); err != nil {
		s.values, s.delta = oldValues, oldDelta
		return err
	}
	s.user, s.userRaw = &u, rawUser
	if limited {
		ctx, cancel := s.m.storeCtx(s.c.Request.Context())
		defer cancel()
		if err := s.enforceLimit(ctx, u.ID, s.entry.Key); err != nil {
			return err
		}
		if s.entry == nil {
			// Concurrent logins of the same user ordered this one among the
			// oldest, and the limit evicted it.
			return ErrTooManySessions
		}
	}
	ev := s.event(EventLogin, s.entry.Key, u.ID, "")
	if oldKey != "" {
		ev.Detail = store.Handle(oldKey)
	}
	s.m.Emit(ev)
	return nil
}

// dropUserValues deletes what belongs to the session's user: the
// application's values and the flashes. What belongs to the browser (device,
// fingerprint) stays.
func (s *Session) dropUserValues() {
	for k := range s.values {
		if k == keyFlashes || k[0] != 0 {
			s.del(k)
		}
	}
}

// Rotate gives the session a new token and deletes the old one at once,
// keeping values, user and absolute deadline (rotation never extends a
// session's life). Call it on any privilege change. reason is passed to the
// RotateHooks. Emits "rotated".
func (s *Session) Rotate(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("rotate"); err != nil {
		return err
	}
	abs := time.Time{}
	userID := ""
	if s.entry != nil {
		abs, userID = s.entry.AbsoluteDeadline, s.entry.UserID
	}
	return s.rotate(reason, userID, abs, time.Time{}, false)
}

// rotate moves the session to a new token. A stored entry is claimed first
// (turned into a tombstone), so the old token is dead when rotate returns.
// The new entry is stored at once, or with deferPut left pending for the
// commit (createPending); a pending entry stays pending, as nothing of it is
// stored to claim. abs zero means a new session's absolute deadline;
// created zero keeps the session's creation time.
func (s *Session) rotate(reason, userID string, abs, created time.Time, deferPut bool) error {
	now := s.m.cfg.Now()
	tok := store.NewToken()
	key := tok.Key()
	r := Rotation{New: store.Handle(key), UserID: userID, Reason: reason}
	if s.entry != nil {
		r.Old = store.Handle(s.entry.Key)
	}
	ctx, cancel := s.m.storeCtx(s.c.Request.Context())
	defer cancel()
	for _, hook := range s.m.cfg.OnRotate {
		if err := hook(ctx, r); err != nil {
			return errors.Join(ErrRotateVetoed, err)
		}
	}
	if abs.IsZero() {
		abs = now.Add(s.m.cfg.AbsoluteTimeout)
	}
	if created.IsZero() {
		created = now
		if s.entry != nil {
			created = s.entry.Created
		}
	}
	deferPut = deferPut || s.pending
	oldCSRF := s.values[keyCSRF]
	s.put(keyCSRF, newCSRFRaw(s.m))
	if s.entry == nil {
		s.recordDevice()
	}
	s.bindFingerprint(tok)
	s.markRotated(now)
	if deferPut && s.size() > s.m.cfg.Limits.MaxSize {
		// Refused here, as the seal below would, not by the commit.
		s.restoreCSRF(oldCSRF)
		return wrap("rotate", store.ErrTooLarge)
	}
	if s.entry != nil && !s.pending {
		// Claim the old entry first: a session that ended meanwhile (a
		// revocation racing this request) must not live on under a new token.
		if err := s.claim(ctx); err != nil {
			return err
		}
	}
	var e *store.Entry
	if deferPut {
		e = s.newEntry(key, userID, created, abs, now, nil)
	} else {
		e = s.newEntry(key, userID, created, abs, now, nil)
		payload, err := s.m.seal(e, s.values)
		if err != nil {
			s.restoreCSRF(oldCSRF)
			return wrap("rotate", err)
		}
		e.Payload = payload
		if err := s.m.cfg.Store.Put(ctx, e, 0); err != nil {
			if s.entry != nil {
				s.reset() // the old entry is already ended
			} else {
				s.restoreCSRF(oldCSRF)
			}
			return wrap("rotate", err)
		}
	}
	s.token, s.entry, s.pending = tok, e, deferPut
	s.delta = nil
	s.clear, s.dirty, s.setCookie, s.clearCookie = false, false, true, false
	if r.Old == "" {
		// Nothing was stored before: this is a new session, not a rotation.
		s.m.Emit(s.event(EventCreated, key, userID, ""))
		return nil
	}
	s.m.Emit(Event{Kind: EventRotated, Time: now.UTC(), Session: r.Old, UserID: userID,
		IP: s.c.ClientIP(), UserAgent: s.c.Request.UserAgent(), Detail: r.New})
	return nil
}

func (s *Session) restoreCSRF(old []byte) {
	if old == nil {
		s.del(keyCSRF)
		return
	}
	s.put(keyCSRF, old)
}

// Logout deletes the stored session at once and expires the cookie. A slow
// request of the same session that saves later cannot bring it back: its
// compare-and-set finds no entry. The request goes on with a fresh, empty
// session (set a flash message in it if you like). Emits "logout".
func (s *Session) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if s.entry != nil {
		if !s.pending { // a login's entry not stored yet has nothing to end
			ctx, cancel := s.m.storeCtx(s.c.Request.Context())
			defer cancel()
			if err := s.m.kill(ctx, s.entry.Key, s.entry); err != nil {
				return wrap("logout", err)
			}
		}
		s.m.Emit(s.event(EventLogout, s.entry.Key, s.entry.UserID, ""))
	}
	s.reset()
	s.clearCookie = true
	return nil
}

// User returns the logged-in user; the zero User when anonymous.
func (s *Session) User() (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return User{}, err
	}
	raw := s.values[keyUser]
	if raw == nil {
		return User{}, nil
	}
	if s.user == nil || !bytes.Equal(raw, s.userRaw) {
		u := new(User)
		if err := store.DecodeValue(raw, u, s.m.cfg.Limits); err != nil {
			return User{}, err
		}
		if u.ID == "" && s.entry != nil {
			u.ID = s.entry.UserID // bound to the envelope, not sealed twice
		}
		s.user, s.userRaw = u, raw
	}
	return *s.user, nil
}

// LoginTime returns when the user logged in; zero when anonymous. It is
// the session's creation time: Login gives the session a new one, and
// every later rotation keeps it. The store keeps that time in the clear,
// and the envelope binds it as associated data: a store writer who edits it
// breaks the session instead of faking a recent login.
func (s *Session) LoginTime() (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return time.Time{}, err
	}
	if s.entry == nil || s.values[keyUser] == nil {
		return time.Time{}, nil
	}
	return s.entry.Created, nil
}

func cloneMap(m map[string][]byte) map[string][]byte {
	c := make(map[string][]byte, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// claim turns the stored session into a tombstone with a compare-and-set on
// the version this request holds. When another request of the session wrote
// first, this request's changes are merged onto its copy and the claim is
// retried; when the session ended meanwhile, the rotation is refused.
func (s *Session) claim(ctx context.Context) error {
	st := s.m.cfg.Store
	for attempt := 0; ; attempt++ {
		old := s.entry
		err := st.Put(ctx, s.m.tombstone(old), old.Version)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrNotFound):
			s.reset()
			return ErrNoSession
		case !errors.Is(err, store.ErrConflict) || attempt >= s.m.cfg.MaxConflictRetries:
			return wrap("rotate", err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return wrap("rotate", err)
		}
		fresh, err := st.Get(ctx, old.Key)
		if errors.Is(err, store.ErrNotFound) {
			s.reset()
			return ErrNoSession
		}
		if err != nil {
			return wrap("rotate", err)
		}
		vals, _, reason := s.m.open(fresh)
		if reason != "" || dead(vals) || !s.m.bound(fresh, vals) {
			s.reset()
			return ErrNoSession
		}
		s.applyDelta(vals)
		s.entry, s.values = fresh, vals
	}
}
