package ginsession

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// ErrSessionConflict is the error of a request that two session middlewares
// run on with the same Config.Name, or with the same cookie (a session
// cookie or a visitor CSRF cookie): one session would hide the other on the
// gin context, and the browser would send their cookies under one name. It
// is found on the first request where both run, which fails with 500; the
// log line names both managers.
var ErrSessionConflict = errors.New("ginsession: two sessions on one request share a name or a cookie")

// Name returns the session's name, Config.Name: "" for the default session.
func (m *Manager) Name() string { return m.cfg.Name }

// The sessions of a request are a list, newest first, under one context
// key: a request with one session pays for no map, and the list is as long
// as the middlewares installed, two or three at most.
func sessions(c *gin.Context) *Session {
	v, ok := c.Get(ctxKey{})
	if !ok {
		return nil
	}
	s, _ := v.(*Session)
	return s
}

func findNamed(c *gin.Context, name string) *Session {
	for s := sessions(c); s != nil; s = s.next {
		if s.m.cfg.Name == name {
			return s
		}
	}
	return nil
}

// CurrentNamed returns the request's session named name (Config.Name);
// CurrentNamed(c, "") is Current(c). It panics if no middleware of that
// name is installed on the route: a programming error, found by the first
// request.
func CurrentNamed(c *gin.Context, name string) *Session {
	s := findNamed(c, name)
	if s == nil {
		panic("ginsession: no session named " + strconv.Quote(name) + " on the context: install its middleware with r.Use(ginsession.New(cfg)), cfg.Name = " + strconv.Quote(name))
	}
	return s
}

// LookupNamed is CurrentNamed without the panic.
func LookupNamed(c *gin.Context, name string) (*Session, bool) {
	s := findNamed(c, name)
	return s, s != nil
}

// CurrentUserNamed is CurrentUser for the session named name.
func CurrentUserNamed(c *gin.Context, name string) (User, bool) {
	u, err := CurrentNamed(c, name).User()
	return u, err == nil && u.ID != ""
}

// RequireRecentLoginNamed is RequireRecentLogin for the session named name:
// an admin area may ask its own session for a fresh login while the
// application's session is weeks old.
func RequireRecentLoginNamed(name string, maxAge time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		s := CurrentNamed(c, name)
		t, err := s.LoginTime()
		if err == nil && !t.IsZero() && s.m.cfg.Now().Sub(t) <= maxAge {
			c.Next()
			return
		}
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "recent login required"})
	}
}

// conflicts reports whether m and o cannot share a request: the same name
// would make one session unreachable, a shared cookie name makes the
// browser send two cookies that each session reads as malformed, and a
// shared token header would hand one client's token to both stores.
func (m *Manager) conflicts(o *Manager) bool {
	if m.cfg.Name == o.cfg.Name {
		return true
	}
	if m.cfg.TokenHeader.Enabled && o.cfg.TokenHeader.Enabled && m.cfg.TokenHeader.Name == o.cfg.TokenHeader.Name {
		return true
	}
	a, b := m.cfg.Cookie.Name, o.cfg.Cookie.Name
	return a == b || a == o.csrfCookieName() || m.csrfCookieName() == b
}

// sessionConflict fails a request that m's middleware joins while o's session is
// already on the context. The earlier session is left alone: it is
// configured correctly and commits as usual.
func (m *Manager) sessionConflict(c *gin.Context, o *Manager) {
	m.cfg.Logger.ErrorContext(c.Request.Context(),
		"ginsession: two session middlewares on one request share a name, a cookie or a token header; give each Config its own Name, Cookie.Name and TokenHeader.Name",
		"name", m.cfg.Name, "cookie", m.cfg.Cookie.Name,
		"other_name", o.cfg.Name, "other_cookie", o.cfg.Cookie.Name,
		"method", c.Request.Method, "path", c.Request.URL.Path,
		"err", ErrSessionConflict)
	_ = c.Error(ErrSessionConflict)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "session configuration conflict"})
}

// ownsCookie reports whether a Set-Cookie line is one of m's cookies.
func (m *Manager) ownsCookie(line string) bool {
	name, _, _ := strings.Cut(line, "=")
	name = strings.TrimSpace(name)
	return name == m.cfg.Cookie.Name || name == m.csrfCookieName()
}

// dropCookies removes the Set-Cookie lines of a response whose session s
// failed, keeping those of the request's other sessions: each commits on
// its own, and a failed save must not log the user out of the other one.
func (s *Session) dropCookies(h http.Header) {
	lines := h["Set-Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for o := sessions(s.c); o != nil; o = o.next {
			if o != s && o.m.ownsCookie(line) {
				kept = append(kept, line)
				break
			}
		}
	}
	if kept == nil {
		h.Del("Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}
