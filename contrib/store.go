package contrib

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/gin-contrib/sessions"
	gsessions "github.com/gorilla/sessions"

	"github.com/vedfolnir/sessions/contrib/internal/legacy"
	"github.com/vedfolnir/sessions/store"
)

// Store is a gin-contrib/sessions store (and a gorilla sessions.Store)
// kept in a store.Store of this module: Redis, SQL or the hybrid of both.
// The cookie carries only a 256-bit token; the store keeps the token's
// SHA-256 and the values gob-encoded inside an envelope sealed with the
// key ring. Safe for concurrent use.
type Store struct {
	st     store.Store
	kr     *store.Keyring
	opts   Options
	cookie atomic.Pointer[gsessions.Options]
	states sync.Map // weak.Pointer[gsessions.Session] -> *state
}

var _ sessions.Store = (*Store)(nil)

// state is what the store remembers of a session between New and Save.
type state struct {
	token    store.Token // "" until the session is stored
	version  uint64
	created  time.Time
	absolute time.Time
	plain    []byte             // the gob record as loaded or last saved
	stale    bool               // sealed under a retired key: the next save re-seals
	legacy   *gsessions.Session // an old session to delete after the first save
	broken   error              // the load failed: Save refuses rather than replace the session
}

// NewStore returns a gin-contrib/sessions store kept in st, its values
// sealed with kr. Replace the old store's constructor with it and keep
// every handler:
//
//	store, err := contrib.NewStore(redisStore, keyring, contrib.Options{})
//	r.Use(sessions.Sessions("mysession", store))
//
// A nil st or an empty kr is [ErrOptions].
func NewStore(st store.Store, kr *store.Keyring, opts Options) (*Store, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrOptions)
	}
	if kr == nil || kr.Len() == 0 {
		return nil, fmt.Errorf("%w: empty key ring", ErrOptions)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{st: st, kr: kr, opts: opts}
	c := *opts.Cookie
	s.cookie.Store(c.ToGorillaOptions())
	return s, nil
}

// Options replaces the default cookie settings of the sessions the store
// creates from now on, as gin-contrib's stores do: a zero field is the
// zero attribute (an empty Path is no Path attribute), not a default.
func (s *Store) Options(o sessions.Options) { s.cookie.Store(o.ToGorillaOptions()) }

// Get returns the request's session called name, loading it once per
// request (gorilla's request registry): a second Get of the same name in
// the request returns the same session.
func (s *Store) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New loads the session called name from the request's cookie, or returns
// a new, empty one (IsNew). A missing, malformed, unknown, expired or
// foreign token, and an envelope that does not open, are all a fresh
// session and no error. An unreachable store is a fresh session and an
// error wrapping store.ErrUnavailable; saving that session then fails too,
// so the user's real session is never replaced. A stored session that
// opens but does not decode is a fresh session and [ErrDecode].
func (s *Store) New(r *http.Request, name string) (*gsessions.Session, error) {
	sess := gsessions.NewSession(s, name)
	o := *s.cookie.Load()
	sess.Options = &o
	sess.IsNew = true
	st := s.attach(sess)
	ck, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	tok, err := store.ParseToken(ck.Value)
	if err != nil {
		if s.opts.Old != nil {
			return sess, s.carry(r, name, sess, st)
		}
		return sess, nil
	}
	return sess, s.load(r.Context(), tok, sess, st)
}

func (s *Store) load(ctx context.Context, tok store.Token, sess *gsessions.Session, st *state) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	e, err := s.st.Get(ctx, tok.Key())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
		return nil
	case err != nil:
		st.broken = fmt.Errorf("contrib: load: %w", err)
		return st.broken
	}
	plain, vals, stale, err := s.open(e)
	if errors.Is(err, store.ErrOpen) {
		return nil // not sealed by us for this key: a foreign or moved entry
	}
	if err != nil {
		return fmt.Errorf("contrib: load: %w", err)
	}
	sess.Values = vals
	sess.IsNew = false
	sess.ID = store.Handle(e.Key)
	st.token, st.version, st.created, st.absolute, st.plain = tok, e.Version, e.Created, e.AbsoluteDeadline, plain
	st.stale = stale
	return nil
}

// carry serves an old gin-contrib session's values; Save moves them.
func (s *Store) carry(r *http.Request, name string, sess *gsessions.Session, st *state) error {
	old, outcome, err := legacy.Read(r, s.opts.Old, name)
	switch outcome {
	case legacy.Found:
		maps.Copy(sess.Values, old.Values)
		st.legacy = old
	case legacy.Retry:
		st.broken = fmt.Errorf("contrib: read old session: %w: %w", store.ErrUnavailable, err)
		return st.broken
	case legacy.Expire:
		s.opts.Logger.DebugContext(r.Context(), "contrib: old session cookie does not decode or names no session", "err", err)
	}
	return nil
}

// attach gives sess a fresh state, forgotten when sess is collected.
func (s *Store) attach(sess *gsessions.Session) *state {
	st := &state{}
	wp := weak.Make(sess)
	s.states.Store(wp, st)
	runtime.AddCleanup(sess, func(wp weak.Pointer[gsessions.Session]) { s.states.Delete(wp) }, wp)
	return st
}

// stateOf returns sess's state; a session this store did not create (a
// bare gsessions.NewSession) gets a fresh one: it is saved as new.
func (s *Store) stateOf(sess *gsessions.Session) *state {
	if v, ok := s.states.Load(weak.Make(sess)); ok {
		return v.(*state)
	}
	return s.attach(sess)
}
