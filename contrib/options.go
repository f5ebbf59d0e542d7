package contrib

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-contrib/sessions"
)

// Errors of this package. Store errors (store.ErrUnavailable, ...) are
// wrapped with %w beside them, so test with errors.Is.
var (
	// ErrOptions: NewStore was given a nil store, an empty key ring or a
	// negative duration.
	ErrOptions = errors.New("contrib: invalid options")
	// ErrEncode: gob could not encode the session's values, most often a
	// custom type that was never passed to gob.Register. Nothing was saved.
	ErrEncode = errors.New("contrib: cannot encode session values")
	// ErrDecode: a stored session opened (it is ours and intact) but gob
	// could not decode it, most often because a type it holds is no longer
	// registered. The request gets a fresh, empty session.
	ErrDecode = errors.New("contrib: cannot decode session values")
	// ErrGone: the session was deleted (a MaxAge -1 save in another
	// request) or expired after this request read it. Nothing was saved
	// and the cookie is expired: a late save never brings a session back.
	ErrGone = errors.New("contrib: session is gone")
)

// Options configures [NewStore]. The zero value works.
type Options struct {
	// Cookie is the default cookie of every session, as gin-contrib's
	// store.Options sets it (the Store's Options method replaces it later,
	// and a handler's session.Options replaces it for one session). Its
	// MaxAge also sets how long the stored session lives after each save.
	// Default (nil): Path "/", MaxAge 30 days (gin-contrib's cookie and
	// Redis stores' default), HttpOnly, SameSite Lax; set Secure when the
	// site is served over HTTPS.
	Cookie *sessions.Options

	// IdleTimeout is how long a stored session lives after its last save
	// when its cookie's MaxAge is 0 (a cookie that ends with the browser
	// session). Default 24 hours.
	IdleTimeout time.Duration

	// AbsoluteTimeout is the longest a session lives from its first save,
	// however often it is saved; after it the request gets a fresh session.
	// Default 400 days (the longest a browser keeps a cookie), so it never
	// ends a session gin-contrib would have kept; shorten it for stricter
	// sites.
	AbsoluteTimeout time.Duration

	// Timeout bounds each call to the store. Saves are not cut short when
	// the client goes away, only by this. Default 5 seconds.
	Timeout time.Duration

	// Old is the app's previous gin-contrib/sessions store (redis, cookie,
	// any sessions.Store), built as before with the same keys and
	// options. When set, a request whose cookie is an old session is
	// served that session's values; its first save stores them under a
	// fresh token of ours, replaces the cookie, and deletes the old copy.
	// Nobody is logged out by the switch. Default nil: old cookies are
	// fresh, empty sessions.
	Old sessions.Store

	// Logger receives what a request cannot be told through an error: a
	// failed delete of an old session, an undecodable stored session.
	// Default slog.Default().
	Logger *slog.Logger

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultCookie returns the cookie settings used when Options.Cookie is
// nil.
func DefaultCookie() sessions.Options {
	return sessions.Options{Path: "/", MaxAge: 30 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.IdleTimeout < 0:
		return o, fmt.Errorf("%w: negative IdleTimeout %v", ErrOptions, o.IdleTimeout)
	case o.AbsoluteTimeout < 0:
		return o, fmt.Errorf("%w: negative AbsoluteTimeout %v", ErrOptions, o.AbsoluteTimeout)
	case o.Timeout < 0:
		return o, fmt.Errorf("%w: negative Timeout %v", ErrOptions, o.Timeout)
	}
	if o.Cookie == nil {
		c := DefaultCookie()
		o.Cookie = &c
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 24 * time.Hour
	}
	if o.AbsoluteTimeout == 0 {
		o.AbsoluteTimeout = 400 * 24 * time.Hour
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
