// Package legacy reads and deletes sessions of a gin-contrib/sessions store.
// It is the one code path behind both ways of leaving that store: the
// importer into ginsession (package migrate) and the carry-over of the
// drop-in store (package contrib).
package legacy

import (
	"errors"
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"

	"github.com/vedfolnir/sessions/store"
)

// Outcome says what [Read] found behind an old cookie.
type Outcome int

const (
	// None: the request carries no old cookie (or one holding a token of
	// ours, which is never an old cookie): nothing to do.
	None Outcome = iota
	// Found: a live old session; its values are in the returned session.
	Found
	// Expire: the cookie does not decode (forged, tampered, other keys) or
	// names a session the old store no longer has. The cookie should be
	// expired and the request served as if it had none.
	Expire
	// Retry: the old store could not be read (outage). Leave the old
	// session and its cookie for a later request.
	Retry
)

// Pending reports whether the request carries a cookie named name that may
// be an old session: present and not a canonical token of ours (those are
// far shorter than any gin-contrib cookie). It costs a cookie lookup.
func Pending(r *http.Request, name string) bool {
	ck, err := r.Cookie(name)
	if err != nil {
		return false
	}
	_, err = store.ParseToken(ck.Value)
	return err != nil
}

// Read reads the old session named name with old (New, not Get: the
// request's gorilla registry may already hold a session of that name from
// another store). The session is returned for every outcome but None, so
// its Options can be used to expire the cookie; err is the old store's
// error for Expire and Retry.
func Read(r *http.Request, old sessions.Store, name string) (*gsessions.Session, Outcome, error) {
	if !Pending(r, name) {
		return nil, None, nil
	}
	s, err := old.New(r, name)
	var sc securecookie.Error
	switch {
	case errors.As(err, &sc) && sc.IsDecode():
		return s, Expire, err
	case err != nil:
		return s, Retry, err
	case s == nil || s.IsNew:
		return s, Expire, nil
	}
	return s, Found, nil
}

// Delete deletes the old session s from old (its Save with MaxAge -1: a
// server-side store deletes the stored copy, and every store expires the
// cookie). The Set-Cookie lines old wrote are returned, not sent, so the
// caller can drop those that name its own cookie ([Forward]).
func Delete(r *http.Request, old sessions.Store, s *gsessions.Session) (http.Header, error) {
	if s.Options == nil {
		s.Options = &gsessions.Options{Path: "/"}
	}
	o := *s.Options
	o.MaxAge = -1
	s.Options = &o
	hw := &headerWriter{h: http.Header{}}
	err := old.Save(r, hw, s)
	return hw.h, err
}

// Forward copies the Set-Cookie lines of from to to, except those naming
// the cookie skip (the new library sets that one itself).
func Forward(to, from http.Header, skip string) {
	for _, line := range from.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && ck.Name == skip {
			continue
		}
		to.Add("Set-Cookie", line)
	}
}

// ExpireCookie sends an expired cookie named name with the old session's cookie
// settings (Path "/" when there are none), so the browser stops sending it.
func ExpireCookie(w http.ResponseWriter, name string, s *gsessions.Session) {
	o := gsessions.Options{Path: "/"}
	if s != nil && s.Options != nil {
		o = *s.Options
	}
	o.MaxAge = -1
	http.SetCookie(w, gsessions.NewCookie(name, "", &o))
}

// headerWriter collects the headers the old store writes. It writes no body.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}
