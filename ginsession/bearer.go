package ginsession

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/store"
)

// TokenHeaderOptions let API clients, which keep no cookie jar, send the
// session token in a request header. The zero value is off: a browser's
// only credential is the cookie.
type TokenHeaderOptions struct {
	// Enabled accepts the session token in the header Name. The rules are
	// the cookie's: exactly one canonical token, else no session, decided
	// before any store call. A request that sends a session cookie and a
	// header token at once is refused with 400 (ErrTokenConflict). A
	// session that came by header gets no Set-Cookie, skips RequireCSRF
	// (a header is no ambient credential: a cross-site page cannot make a
	// browser send it) and is never rotated periodically; after a Login
	// or Rotate the handler answers [Session.Token] itself.
	Enabled bool
	// Name is the header. Default "Authorization", which takes
	// "Bearer <token>" (RFC 6750; the scheme in any case, one space);
	// other schemes in it are left alone, for other authentication. Any
	// other name takes the bare token.
	Name string
}

const authorization = "Authorization"

// ErrTokenConflict: a request sent its session token both in the cookie
// and in the header. The middleware answers 400 before any handler runs
// (and adds this error to the gin context's errors): which one to believe
// is a guess, and a wrong guess acts as another user.
var ErrTokenConflict = errors.New("ginsession: session token in both a cookie and a header")

func (o TokenHeaderOptions) withDefaults() TokenHeaderOptions {
	if o.Name == "" {
		o.Name = authorization
	}
	o.Name = http.CanonicalHeaderKey(o.Name)
	return o
}

// validHeaderName refuses names that are not HTTP tokens and the headers
// that carry cookies: a token there would be read twice, or sent back.
func validHeaderName(name string) bool {
	switch name {
	case "Cookie", "Set-Cookie", "":
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// headerToken finds the header token: the number of candidates (more than
// one is malformed) and the last one's text.
func (m *Manager) headerToken(r *http.Request) (string, int) {
	o := &m.cfg.TokenHeader
	vals := r.Header[o.Name]
	if o.Name != authorization {
		if len(vals) == 0 {
			return "", 0
		}
		return vals[len(vals)-1], len(vals)
	}
	found, n := "", 0
	for _, v := range vals {
		scheme, rest, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			found, n = rest, n+1
		}
	}
	return found, n
}

// hasCookie reports whether the request sends any cookie of the session's
// name, well-formed or not.
func (m *Manager) hasCookie(r *http.Request) bool {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			if name, _, ok := strings.Cut(strings.TrimSpace(part), "="); ok && name == m.cfg.Cookie.Name {
				return true
			}
		}
	}
	return false
}

// tokenConflict refuses a request with a session cookie and a header token.
// Called by the middleware before any handler.
func (m *Manager) tokenConflict(c *gin.Context) bool {
	if _, n := m.headerToken(c.Request); n == 0 || !m.hasCookie(c.Request) {
		return false
	}
	m.Emit(Event{Kind: EventRejected, Time: m.cfg.Now().UTC(), IP: c.ClientIP(),
		UserAgent: c.Request.UserAgent(), Detail: RejectConflict})
	_ = c.Error(ErrTokenConflict)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "session token in both a cookie and a header"})
	return true
}

// Token returns the session's token, for a handler to answer an API client
// that sends it in the header (Config.TokenHeader): after Login or Rotate
// the client must learn the new one, and no Set-Cookie carries it. It is
// there for a session that came by header, and for one whose token this
// request issued (a login, a rotation); ok is false otherwise, and while
// the store fails. Answer it only to a client that asked for it: in a
// browser's response body, a script could read the token that HttpOnly
// keeps from it. The token redacts itself in logs and fmt output; write
// it with String.
func (s *Session) Token() (store.Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load() != nil || s.entry == nil || s.token == "" {
		return "", false
	}
	if !s.headerTok && !s.setCookie && !s.issued {
		return "", false
	}
	return s.token, true
}

// FromHeader reports whether the request's session came by the token
// header (Config.TokenHeader) and names a live session.
func (s *Session) FromHeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load() == nil && s.fromHeader
}
