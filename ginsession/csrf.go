package ginsession

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/vedfolnir/sessions/store"
)

// CSRFHeader is the request header RequireCSRF reads the token from.
const CSRFHeader = "X-CSRF-Token"

// CSRFFormField is the form field RequireCSRF falls back to.
const CSRFFormField = "csrf_token"

// csrfBytes is the CSRF token's size: 128 random bits, as OWASP's guidance
// and ASP.NET's antiforgery tokens use. Each session has its own, so there
// is nothing to gain from more but bytes in every stored session.
const csrfBytes = 16

// legacyCSRFBytes is the size of tokens issued before: sessions keep them,
// and pages that hold them keep working, until the next login or rotation.
const legacyCSRFBytes = 32

func validCSRF(b []byte) bool { return len(b) == csrfBytes || len(b) == legacyCSRFBytes }

func newCSRFRaw(m *Manager) []byte {
	raw, _ := store.EncodeValue(randomBytes(csrfBytes), m.cfg.Limits)
	return raw
}

// CSRFToken returns the session's CSRF token (16 random bytes, base64url).
// Login and rotation renew it.
//
// A visitor without a stored session, and with no change this request
// would store (an anonymous visitor on the login form), gets a visitor
// token instead: signed
// with a key derived from the key ring and bound to a short-lived HttpOnly
// cookie that CSRFToken sets (Config.VisitorCSRFLifetime), so it costs no
// stored session. RequireCSRF accepts it for requests without a logged-in
// user only; Login replaces it with the session's own. A request that sent
// a header token (Config.TokenHeader) naming no stored session gets "" and
// no cookie: a header session passes RequireCSRF without a token.
func (s *Session) CSRFToken() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	raw := s.values[keyCSRF]
	if raw == nil && s.entry == nil && !s.dirty {
		if s.headerTok {
			// A header client needs no CSRF token, and is sent no cookie.
			return "", nil
		}
		// Nothing stored, nothing to store: a visitor.
		return s.visitorToken(), nil
	}
	if raw == nil {
		raw = newCSRFRaw(s.m)
		s.put(keyCSRF, raw)
	}
	var b []byte
	if err := store.DecodeValue(raw, &b, s.m.cfg.Limits); err != nil || !validCSRF(b) {
		raw = newCSRFRaw(s.m)
		s.put(keyCSRF, raw)
		_ = store.DecodeValue(raw, &b, s.m.cfg.Limits)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// checkCSRF reports whether presented matches the session's token, in
// constant time over equal-length values. A session without a token matches
// nothing.
func (s *Session) checkCSRF(presented string) (bool, error) {
	raw, err := s.raw(keyCSRF)
	if err != nil || raw == nil {
		return false, err
	}
	var want []byte
	if err := store.DecodeValue(raw, &want, s.m.cfg.Limits); err != nil || !validCSRF(want) {
		return false, nil
	}
	got, ok := decodeExact(presented, len(want))
	if !ok {
		return false, nil
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CSRFOptions configures RequireCSRF. The zero value is the safe default.
type CSRFOptions struct {
	// Session names the session whose token is checked (Config.Name).
	// Default "": the default session. Each session has its own token, so
	// a route guarded for the admin session refuses the application
	// session's token.
	Session string
	// TrustedOrigins may send cross-origin unsafe requests (as
	// http.CrossOriginProtection.AddTrustedOrigin: "https://example.com").
	TrustedOrigins []string
	// DisableFormField: only the X-CSRF-Token header is accepted.
	DisableFormField bool
	// MaxFormBytes caps how much of a form body is read to find the
	// csrf_token field when the header is absent. Default 1 MiB: larger
	// forms (file uploads) must send the header.
	MaxFormBytes int64
	// OnReject, when set, writes the rejection; default 403 JSON
	// {"error":"..."}.
	OnReject func(c *gin.Context, reason string)
}

// RequireCSRF returns middleware that rejects, with 403 and before any
// handler runs, unsafe requests (anything but GET, HEAD, OPTIONS) that are
// cross-site by Fetch metadata or Origin (Go's http.CrossOriginProtection),
// or that lack the session's CSRF token in the X-CSRF-Token header (or the
// csrf_token form field). A request without a logged-in user may present a
// visitor token (see Session.CSRFToken) instead. A request whose session
// came by the token header (Config.TokenHeader) passes: only cookies are
// sent by a browser on its own. Install it after the session middleware.
func RequireCSRF(opts CSRFOptions) (gin.HandlerFunc, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, wrap("csrf", err)
		}
	}
	maxForm := opts.MaxFormBytes
	if maxForm <= 0 {
		maxForm = 1 << 20
	}
	reject := opts.OnReject
	if reject == nil {
		reject = func(c *gin.Context, reason string) {
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": reason})
		}
	}
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		sess := CurrentNamed(c, opts.Session)
		if sess.m.cfg.TokenHeader.Enabled {
			if _, n := sess.m.headerToken(c.Request); n > 0 && sess.FromHeader() {
				// No ambient credential to forge a request with: a page
				// cannot make the browser send this header cross-site.
				c.Next()
				return
			}
		}
		if err := cop.Check(c.Request); err != nil {
			reject(c, "cross-origin request refused")
			return
		}
		has, err := sess.Has(keyCSRF)
		if err != nil {
			// The load failed: the middleware's commit answers it (503
			// with Retry-After when the store is unavailable).
			c.Abort()
			return
		}
		visitor := false
		if u, err := sess.User(); err == nil && u.ID == "" {
			visitor = sess.m.readCSRFCookie(c.Request) != nil
		}
		if !has && !visitor {
			// No token to match: refuse before reading any body.
			reject(c, "missing or invalid CSRF token")
			return
		}
		presented := c.GetHeader(CSRFHeader)
		if presented == "" && !opts.DisableFormField && isForm(c.ContentType()) {
			// Bound the parse: a refusal must not cost the body's size in memory.
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxForm)
			presented = c.PostForm(CSRFFormField)
		}
		ok := false
		if has {
			if ok, err = sess.checkCSRF(presented); err != nil {
				// The load failed: the middleware's commit answers it (503
				// with Retry-After when the store is unavailable).
				c.Abort()
				return
			}
		}
		if !ok && visitor {
			ok = sess.m.checkVisitorCSRF(c.Request, presented)
		}
		if !ok {
			reject(c, "missing or invalid CSRF token")
			return
		}
		c.Next()
	}, nil
}

func isForm(ct string) bool {
	return ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data"
}
