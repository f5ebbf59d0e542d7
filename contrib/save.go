package contrib

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	gsessions "github.com/gorilla/sessions"

	"github.com/vedfolnir/sessions/contrib/internal/legacy"
	"github.com/vedfolnir/sessions/store"
)

// maxMerges bounds the re-reads of a save that keeps losing the race.
const maxMerges = 8

// Save stores the session and sets its cookie with the session's Options.
//
//   - A new session is stored under a fresh token (and, when it carries an
//     old gin-contrib session, the old copy is deleted once ours is safe).
//   - A stored session is a compare-and-set on its version: when another
//     request saved it meanwhile, the keys this request set, changed or
//     deleted are applied onto the stored copy and the save is retried,
//     so concurrent requests that change different keys both keep their
//     change; on the same key the last save wins.
//   - MaxAge < 0 deletes the stored session, not only the cookie.
//
// Errors: [ErrEncode] for values gob cannot encode (register custom types
// with gob.Register), [ErrGone] when the session was deleted or expired
// meanwhile, and store errors wrapped as they are (an error wrapping
// store.ErrUnavailable should answer 503). On an error the cookie is left
// as it was, except for ErrGone, which expires it.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *gsessions.Session) error {
	st := s.stateOf(sess)
	if st.broken != nil {
		return st.broken
	}
	o := sess.Options
	if o == nil {
		o = s.cookie.Load()
	}
	if o.MaxAge < 0 {
		return s.delete(r, w, sess, st, o)
	}
	plain, err := encode(sess.Values)
	if err != nil {
		return fmt.Errorf("contrib: save: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.Timeout)
	defer cancel()
	now := store.Millis(s.opts.Now())
	idle := s.opts.IdleTimeout
	if o.MaxAge > 0 {
		idle = time.Duration(o.MaxAge) * time.Second
	}
	if st.token == "" {
		err = s.create(ctx, st, plain, now, idle)
	} else {
		err = s.update(ctx, sess, st, plain, now, idle)
	}
	if errors.Is(err, ErrGone) {
		http.SetCookie(w, gsessions.NewCookie(sess.Name(), "", expired(o)))
		s.forget(sess, st)
		return err
	}
	if err != nil {
		return err
	}
	sess.IsNew = false
	sess.ID = store.Handle(st.token.Key())
	http.SetCookie(w, gsessions.NewCookie(sess.Name(), st.token.String(), o))
	if st.legacy != nil {
		// Ours is stored and its cookie replaces the old one (same name):
		// the old copy can go. Its own Set-Cookie names our cookie too and
		// is dropped.
		if _, err := legacy.Delete(r, s.opts.Old, st.legacy); err != nil {
			s.opts.Logger.WarnContext(r.Context(), "contrib: delete old session after carrying it over", "err", err)
		}
		st.legacy = nil
	}
	return nil
}

func (s *Store) create(ctx context.Context, st *state, plain []byte, now time.Time, idle time.Duration) error {
	abs := now.Add(s.opts.AbsoluteTimeout)
	for range 3 { // a taken fresh token is a 2^-256 event, or a broken random source
		tok := store.NewToken()
		e := &store.Entry{Key: tok.Key(), Version: 1, Created: now, LastActivity: now,
			IdleDeadline: earlier(now.Add(idle), abs), AbsoluteDeadline: abs}
		e.Normalize()
		if err := s.seal(e, plain); err != nil {
			return err
		}
		err := s.st.Put(ctx, e, 0)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("contrib: save: %w", err)
		}
		st.token, st.version, st.created, st.absolute, st.plain = tok, e.Version, e.Created, e.AbsoluteDeadline, plain
		return nil
	}
	return fmt.Errorf("contrib: save: %w: three fresh tokens taken", store.ErrConflict)
}

func (s *Store) update(ctx context.Context, sess *gsessions.Session, st *state, plain []byte, now time.Time, idle time.Duration) error {
	key := st.token.Key()
	idleAt := earlier(now.Add(idle), st.absolute)
	if bytes.Equal(plain, st.plain) && !st.stale {
		// Nothing changed: refresh the deadline, keep payload and version.
		err := s.st.Touch(ctx, key, now, idleAt)
		if errors.Is(err, store.ErrNotFound) {
			return ErrGone
		}
		if err != nil {
			return fmt.Errorf("contrib: save: %w", err)
		}
		return nil
	}
	e := &store.Entry{Key: key, Created: st.created, LastActivity: now, IdleDeadline: idleAt, AbsoluteDeadline: st.absolute}
	prev := st.version
	var snap map[any]any
	for i := 0; ; i++ {
		e.Version = prev + 1
		if err := s.seal(e, plain); err != nil {
			return err
		}
		err := s.st.Put(ctx, e, prev)
		switch {
		case err == nil:
			st.version, st.plain, st.stale = e.Version, plain, false
			return nil
		case errors.Is(err, store.ErrNotFound):
			return ErrGone
		case !errors.Is(err, store.ErrConflict):
			return fmt.Errorf("contrib: save: %w", err)
		case i == maxMerges:
			return fmt.Errorf("contrib: save: %w after %d merges", err, maxMerges)
		}
		// Another request saved first: apply our changes onto its copy.
		cur, err := s.st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return ErrGone
		}
		if err != nil {
			return fmt.Errorf("contrib: save: reread: %w", err)
		}
		_, base, _, err := s.open(cur)
		if err != nil {
			return fmt.Errorf("contrib: save: reread: %w", err)
		}
		if snap == nil {
			if snap, err = decode(st.plain); err != nil {
				return fmt.Errorf("contrib: save: %w", err)
			}
		}
		merged := merge(base, snap, sess.Values)
		if plain, err = encode(merged); err != nil {
			return fmt.Errorf("contrib: save: %w", err)
		}
		// The handler sees what was stored, in the map it holds.
		clear(sess.Values)
		maps.Copy(sess.Values, merged)
		snap = base
		// Later rounds merge onto newer copies: what this request changed
		// is now the difference between base and merged, so keep snap at
		// the copy the merged map was built on.
		prev = cur.Version
	}
}

// delete removes the stored session (and an old one being carried over)
// and expires the cookie.
func (s *Store) delete(r *http.Request, w http.ResponseWriter, sess *gsessions.Session, st *state, o *gsessions.Options) error {
	if st.token != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.Timeout)
		defer cancel()
		if err := s.st.Delete(ctx, st.token.Key()); err != nil {
			return fmt.Errorf("contrib: delete: %w", err)
		}
	}
	if st.legacy != nil {
		if _, derr := legacy.Delete(r, s.opts.Old, st.legacy); derr != nil {
			s.opts.Logger.WarnContext(r.Context(), "contrib: delete old session", "err", derr)
		}
	}
	http.SetCookie(w, gsessions.NewCookie(sess.Name(), "", o))
	s.forget(sess, st)
	return nil
}

// forget makes sess a new session again: a later Save stores it afresh.
func (s *Store) forget(sess *gsessions.Session, st *state) {
	*st = state{}
	sess.IsNew = true
	sess.ID = ""
}

func expired(o *gsessions.Options) *gsessions.Options {
	e := *o
	e.MaxAge = -1
	return &e
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
