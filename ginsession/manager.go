package ginsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/internal/sealed"
	"github.com/vedfolnir/sessions/store"
)

// The record types of session envelopes (see package internal/sealed).
const (
	recordSession = sealed.Legacy
	recordBound   = sealed.Bound
)

// ctxKey is the gin context key of the request's sessions: the newest
// *Session, which links to the others.
type ctxKey struct{}

// Manager owns a session configuration: the middleware for requests, and
// the operations that run outside a request (revoking a user's sessions from
// an admin job, say). Safe for concurrent use.
type Manager struct {
	cfg      Config
	getTouch store.GetToucher // nil when the store lacks it
	index    store.UserIndex  // nil when the store lacks it
	groups   commitGroups     // saves of one session in progress (group commit)
	csrfKeys [][]byte         // visitor CSRF MAC keys, derived from the key ring, active first
	// observedAs is the store name the Observer is given: "session", or
	// "session:"+Name, so that two sessions' metrics and spans stay apart.
	observedAs string
}

// NewManager validates cfg and returns a Manager. Errors wrap ErrConfig and
// name the field at fault.
func NewManager(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, csrfKeys: cfg.Keyring.SubKeys(visitorCSRFPurpose), observedAs: "session"}
	if cfg.Name != "" {
		m.observedAs = "session:" + cfg.Name
	}
	m.getTouch, _ = cfg.Store.(store.GetToucher)
	m.index, _ = cfg.Store.(store.UserIndex)
	if cfg.MaxSessionsPerUser > 0 && m.index == nil {
		return nil, fmt.Errorf("%w: MaxSessionsPerUser: the store has no per-user index", ErrConfig)
	}
	return m, nil
}

// New returns the session middleware for cfg. It panics when cfg is invalid,
// at start-up, like regexp.MustCompile; use NewManager to get the error.
func New(cfg Config) gin.HandlerFunc {
	m, err := NewManager(cfg)
	if err != nil {
		panic(err)
	}
	return m.Middleware()
}

// Config returns the manager's configuration with defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// CookieName returns the cookie name in use (with the __Host- prefix when
// it applies).
func (m *Manager) CookieName() string { return m.cfg.Cookie.Name }

// Middleware returns the gin handler that puts a lazy *Session on every
// request's context and commits it before the response headers go out.
func (m *Manager) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		head := sessions(c)
		for o := head; o != nil; o = o.next {
			if m.conflicts(o.m) {
				m.sessionConflict(c, o.m)
				return
			}
		}
		s := &Session{m: m, c: c, next: head}
		c.Set(ctxKey{}, s)
		if m.cfg.TokenHeader.Enabled && m.tokenConflict(c) {
			return
		}
		c.Next()
		if !s.loaded || s.committed {
			return
		}
		// Nothing was written: commit now, while a failure can still
		// become a 500.
		if err := s.commit(); err != nil && !c.Writer.Written() {
			s.failResponse(c.Writer, err)
		}
	}
}

// Current returns the request's default session (the one whose Config has
// no Name; see CurrentNamed for the others). It panics if the middleware is
// not installed: that is a programming error, found by the first request.
func Current(c *gin.Context) *Session {
	s := findNamed(c, "")
	if s == nil {
		if o := sessions(c); o != nil {
			panic("ginsession: no default session on the context, only named ones: use CurrentNamed(c, " + strconv.Quote(o.m.cfg.Name) + ")")
		}
		panic("ginsession: no session on the context: install the middleware with r.Use(ginsession.New(cfg))")
	}
	return s
}

// Lookup is Current without the panic.
func Lookup(c *gin.Context) (*Session, bool) {
	s := findNamed(c, "")
	return s, s != nil
}

// Emit sends ev to every OnEvent consumer, with a zero Time and Name filled
// in. Packages that extend sessions (platform switching, say) use it so all
// events share one stream.
func (m *Manager) Emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = m.cfg.Now().UTC()
	}
	if ev.Name == "" {
		ev.Name = m.cfg.Name
	}
	for _, h := range m.cfg.OnEvent {
		h(ev)
	}
}

// Store returns the manager's store.
func (m *Manager) Store() store.Store { return m.cfg.Store }

// storeCtx bounds a store call made for a request. Saves and deletes run
// detached from the client's cancellation: a client that hangs up must not
// leave a half-done logout or rotation.
func (m *Manager) storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), m.cfg.StoreTimeout)
}

// failResponse answers a request whose session could not be saved, or
// whose store failed on load: Config.OnUnavailable (a 503 with
// Retry-After by default) when err wraps store.ErrUnavailable, a 500
// otherwise. Set-Cookie is dropped either way, but for the cookies of the
// request's other sessions, which commit on their own.
func (s *Session) failResponse(w gin.ResponseWriter, err error) {
	m := s.m
	h := w.Header()
	s.dropCookies(h)
	h.Set("Cache-Control", "no-store")
	if errors.Is(err, store.ErrUnavailable) {
		h.Set("Retry-After", strconv.FormatInt(int64((m.cfg.RetryAfter+time.Second-1)/time.Second), 10))
		m.cfg.OnUnavailable(w, s.c.Request)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.WriteString(`{"error":"session could not be saved"}`)
}

// Unavailable is the default Config.OnUnavailable: 503 Service Unavailable
// with the JSON body {"error":"session store unavailable"}. The middleware
// has set Retry-After and Cache-Control: no-store before it runs.
func Unavailable(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"error":"session store unavailable"}`)
}

// cookie builds the session cookie. maxAge < 0 deletes it.
func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	ck := &http.Cookie{
		Name:        m.cfg.Cookie.Name,
		Value:       value,
		Path:        m.cfg.Cookie.Path,
		Domain:      m.cfg.Cookie.Domain,
		Secure:      !m.cfg.Cookie.Insecure,
		HttpOnly:    !m.cfg.Cookie.ScriptReadable,
		SameSite:    m.cfg.Cookie.SameSite,
		Partitioned: m.cfg.Cookie.Partitioned,
		MaxAge:      maxAge,
	}
	return ck
}

// readToken returns the request's well-formed token, or "" with a reason,
// and whether it came by header. Anything but exactly one cookie of our
// name (or one header token) holding a canonical token is "no token":
// decided here, before any store call.
func (m *Manager) readToken(r *http.Request) (store.Token, bool, string) {
	if m.cfg.TokenHeader.Enabled {
		if v, n := m.headerToken(r); n > 0 {
			switch {
			case m.hasCookie(r):
				return "", true, RejectConflict
			case n > 1:
				return "", true, RejectMalformed
			}
			t, err := store.ParseToken(v)
			if err != nil {
				return "", true, RejectMalformed
			}
			return t, true, ""
		}
	}
	t, reason := m.readCookie(r)
	return t, false, reason
}

// readCookie is readToken's cookie half.
func (m *Manager) readCookie(r *http.Request) (store.Token, string) {
	var found string
	n := 0
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != m.cfg.Cookie.Name {
				continue
			}
			n++
			found = val
		}
	}
	switch {
	case n == 0:
		return "", ""
	case n > 1:
		return "", RejectMalformed
	}
	t, err := store.ParseToken(found)
	if err != nil {
		return "", RejectMalformed
	}
	return t, ""
}

// ErrNoSession is returned by operations that need a stored session when
// the request has none.
var ErrNoSession = errors.New("ginsession: no session")

func wrap(op string, err error) error { return fmt.Errorf("ginsession: %s: %w", op, err) }
