package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

// userJSON is a user as the API shows it.
type userJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
}

// sessionJSON is the answer of GET /api/session and POST /api/login.
type sessionJSON struct {
	Authenticated bool              `json:"authenticated"`
	User          *userJSON         `json:"user"`
	Platform      *platform.Context `json:"platform"`
	CSRFToken     string            `json:"csrf_token"`
	CreatedAt     *string           `json:"created_at"`
	LastActivity  *string           `json:"last_activity"`
	ExpiresAt     *string           `json:"expires_at"`
	// Token is the session token, in a login's answer to a client that
	// asked for it (an API client, which sends it back as a bearer token).
	Token string `json:"token,omitempty"`
}

// rfc3339 formats t as RFC 3339 in UTC, with milliseconds.
func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

// errorJSON answers {"error": msg}.
func errorJSON(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

// storeDown answers a session store failure: 503, never a 500 with details.
func (a *App) storeDown(c *gin.Context, op string, err error) {
	a.log.Warn("session store", "op", op, "err", err)
	errorJSON(c, http.StatusServiceUnavailable, "session store unavailable")
}

// sessionState builds the session's JSON view. A visitor who has not
// logged in nor set a value gets a CSRF token for the login form without
// any stored session (ginsession's visitor token), and no times.
func (a *App) sessionState(c *gin.Context) (sessionJSON, error) {
	s := ginsession.Current(c)
	tok, err := s.CSRFToken()
	if err != nil {
		return sessionJSON{}, err
	}
	if err := s.Save(); err != nil {
		return sessionJSON{}, err
	}
	out := sessionJSON{CSRFToken: tok}
	if u, ok := ginsession.CurrentUser(c); ok {
		out.Authenticated = true
		if du, ok := userByID(u.ID); ok {
			out.User = &userJSON{ID: du.ID, Username: du.Username, Role: du.Role}
		}
		if pc, ok := platform.From(c); ok {
			out.Platform = pc
		}
	}
	info, ok, err := s.Info()
	if err != nil {
		return sessionJSON{}, err
	}
	if ok {
		out.CreatedAt = timePtr(info.Created)
		out.LastActivity = timePtr(info.LastActivity)
		out.ExpiresAt = timePtr(info.ExpiresAt())
	}
	return out, nil
}

func (a *App) writeSession(c *gin.Context, op string) {
	st, err := a.sessionState(c)
	if err != nil {
		a.storeDown(c, op, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// GET /api/session
func (a *App) getSession(c *gin.Context) { a.writeSession(c, "session") }

// maxBody bounds every JSON request body.
const maxBody = 16 << 10

// readJSON decodes the request body into v, answering 400 or 413 itself
// when it cannot.
func readJSON(c *gin.Context, v any) bool {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	switch {
	case err != nil:
		errorJSON(c, http.StatusBadRequest, "could not read the request body")
		return false
	case len(body) > maxBody:
		errorJSON(c, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		errorJSON(c, http.StatusBadRequest, "request body must be a JSON object")
		return false
	}
	return true
}

// POST /api/login {username, password, remember, token}
func (a *App) login(c *gin.Context) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Remember bool   `json:"remember"`
		Token    bool   `json:"token"`
	}
	if !readJSON(c, &req) {
		return
	}
	u, ok := authenticate(req.Username, req.Password)
	if !ok {
		errorJSON(c, http.StatusUnauthorized, "invalid username or password")
		return
	}
	if _, was := ginsession.CurrentUser(c); was {
		// Another login on a logged-in session starts afresh: nothing of
		// the previous user's session carries over.
		if err := ginsession.Current(c).Logout(); err != nil {
			a.storeDown(c, "login", err)
			return
		}
	}
	bearer := ginsession.Current(c).FromHeader() // read before the login replaces the session
	err := ginsession.Current(c).Login(ginsession.User{ID: strconv.FormatInt(u.ID, 10), Username: u.Username, Role: u.Role},
		ginsession.LoginOptions{Remember: req.Remember})
	switch {
	case errors.Is(err, ginsession.ErrTooManySessions):
		errorJSON(c, http.StatusTooManyRequests, "too many sessions: log out elsewhere first")
		return
	case err != nil:
		a.storeDown(c, "login", err)
		return
	}
	c.Delete(platform.Key) // resolved for the session before login
	st, err := a.sessionState(c)
	if err != nil {
		a.storeDown(c, "login", err)
		return
	}
	// Only to a client that asked, or that already holds a token: in a
	// page's answer a script could read what HttpOnly hides from it.
	if tok, ok := ginsession.Current(c).Token(); ok && (req.Token || bearer) {
		st.Token = tok.String()
	}
	c.JSON(http.StatusOK, st)
}

// POST /api/logout
func (a *App) logout(c *gin.Context) {
	if err := ginsession.Current(c).Logout(); err != nil {
		a.storeDown(c, "logout", err)
		return
	}
	c.Delete(platform.Key)
	a.writeSession(c, "logout")
}

// POST /api/logout-all
func (a *App) logoutAll(c *gin.Context) {
	n, err := ginsession.Current(c).LogoutEverywhere(c.Request.Context())
	switch {
	case errors.Is(err, ginsession.ErrNoSession):
		errorJSON(c, http.StatusUnauthorized, "not logged in")
	case err != nil:
		a.storeDown(c, "logout-all", err)
	default:
		c.JSON(http.StatusOK, gin.H{"revoked": n})
	}
}

// GET /api/platform (behind platform.Require: 401, 409, 503 handled there)
func (a *App) getPlatform(c *gin.Context) {
	pc := c.MustGet(platform.Key).(*platform.Context)
	c.JSON(http.StatusOK, pc)
}

// POST /api/platform {platform_connection_id}
func (a *App) switchPlatform(c *gin.Context) {
	if _, ok := ginsession.CurrentUser(c); !ok {
		errorJSON(c, http.StatusUnauthorized, "not logged in")
		return
	}
	var req struct {
		ID json.Number `json:"platform_connection_id"`
	}
	if !readJSON(c, &req) {
		return
	}
	id, err := req.ID.Int64()
	if err != nil {
		errorJSON(c, http.StatusBadRequest, "platform_connection_id must be an integer")
		return
	}
	pc, err := platform.Switch(c, id)
	switch {
	case errors.Is(err, platform.ErrForbidden):
		errorJSON(c, http.StatusForbidden, "not one of your platform connections")
	case errors.Is(err, platform.ErrNotLoggedIn):
		errorJSON(c, http.StatusUnauthorized, "not logged in")
	case err != nil:
		a.storeDown(c, "platform", err)
	default:
		c.JSON(http.StatusOK, pc)
	}
}

// sessionItem is one entry of GET /api/sessions.
type sessionItem struct {
	ID           string            `json:"id"`
	CreatedAt    string            `json:"created_at"`
	LastActivity string            `json:"last_activity"`
	ExpiresAt    string            `json:"expires_at"`
	IP           string            `json:"ip"`
	UserAgent    string            `json:"user_agent"`
	Platform     *platform.Context `json:"platform"`
	Current      bool              `json:"current"`
	Remembered   bool              `json:"remembered"`
}

// userSessions lists the request user's sessions, current one marked.
func (a *App) userSessions(c *gin.Context) ([]sessionItem, error) {
	list, err := ginsession.Current(c).UserSessions(c.Request.Context())
	if err != nil {
		return nil, err
	}
	out := make([]sessionItem, 0, len(list))
	for _, si := range list {
		it := sessionItem{ID: si.Handle, CreatedAt: rfc3339(si.Created), LastActivity: rfc3339(si.LastActivity),
			ExpiresAt: rfc3339(si.ExpiresAt), IP: si.IP, UserAgent: si.UserAgent, Current: si.Current,
			Remembered: si.Remembered}
		if pc, err := ginsession.DeviceValue[platform.Context](si, platform.SessionKey); err == nil {
			it.Platform = &pc
		}
		out = append(out, it)
	}
	return out, nil
}

// GET /api/sessions
func (a *App) listSessions(c *gin.Context) {
	list, err := a.userSessions(c)
	switch {
	case errors.Is(err, ginsession.ErrNoSession):
		errorJSON(c, http.StatusUnauthorized, "not logged in")
	case err != nil:
		a.storeDown(c, "sessions", err)
	default:
		c.JSON(http.StatusOK, list)
	}
}

// DELETE /api/sessions/:id
func (a *App) revokeSession(c *gin.Context) {
	u, ok := ginsession.CurrentUser(c)
	if !ok {
		errorJSON(c, http.StatusUnauthorized, "not logged in")
		return
	}
	err := a.sessions.RevokeSession(c.Request.Context(), u.ID, c.Param("id"))
	switch {
	case errors.Is(err, ginsession.ErrSessionNotFound):
		errorJSON(c, http.StatusNotFound, "no such session")
	case err != nil:
		a.storeDown(c, "revoke", err)
	default:
		c.Status(http.StatusNoContent)
	}
}

// Preferences are kept in the session under prefPrefix + key, as the
// client's JSON text, so any JSON value round-trips exactly.
const (
	prefPrefix   = "pref:"
	maxPrefKey   = 64
	maxPrefValue = 4 << 10
)

// prefKey validates the :key parameter: 1 to 64 of [A-Za-z0-9_.-].
func prefKey(c *gin.Context) (string, bool) {
	k := c.Param("key")
	ok := len(k) > 0 && len(k) <= maxPrefKey
	for i := 0; ok && i < len(k); i++ {
		b := k[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '-'
	}
	if !ok {
		errorJSON(c, http.StatusBadRequest, "a preference key is 1 to 64 of A-Z a-z 0-9 _ . -")
	}
	return k, ok
}

// GET /api/prefs
func (a *App) listPrefs(c *gin.Context) {
	s := ginsession.Current(c)
	keys, err := s.Keys()
	if err != nil {
		a.storeDown(c, "prefs", err)
		return
	}
	sort.Strings(keys)
	out := map[string]json.RawMessage{}
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, prefPrefix)
		if !ok {
			continue
		}
		if raw, err := ginsession.Get[[]byte](s, k); err == nil && json.Valid(raw) {
			out[name] = raw
		}
	}
	c.JSON(http.StatusOK, out)
}

// GET /api/prefs/:key
func (a *App) getPref(c *gin.Context) {
	k, ok := prefKey(c)
	if !ok {
		return
	}
	raw, err := ginsession.Get[[]byte](ginsession.Current(c), prefPrefix+k)
	switch {
	case errors.Is(err, ginsession.ErrNoValue) || err == nil && !json.Valid(raw):
		errorJSON(c, http.StatusNotFound, "no such preference")
	case err != nil:
		a.storeDown(c, "prefs", err)
	default:
		c.Data(http.StatusOK, "application/json; charset=utf-8", raw)
	}
}

// PUT /api/prefs/:key with any JSON value as the body
func (a *App) putPref(c *gin.Context) {
	k, ok := prefKey(c)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxPrefValue+1))
	switch {
	case err != nil:
		errorJSON(c, http.StatusBadRequest, "could not read the request body")
		return
	case len(body) > maxPrefValue:
		errorJSON(c, http.StatusRequestEntityTooLarge, "a preference value is at most 4 KiB of JSON")
		return
	case !json.Valid(body):
		errorJSON(c, http.StatusBadRequest, "the body must be one JSON value")
		return
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, body)
	err = ginsession.Current(c).Set(prefPrefix+k, buf.Bytes())
	switch {
	case errors.Is(err, store.ErrTooLarge):
		errorJSON(c, http.StatusRequestEntityTooLarge, "the session is full: delete some preferences first")
		return
	case err != nil:
		a.storeDown(c, "prefs", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// DELETE /api/prefs/:key
func (a *App) deletePref(c *gin.Context) {
	k, ok := prefKey(c)
	if !ok {
		return
	}
	s := ginsession.Current(c)
	had, err := s.Has(prefPrefix + k)
	if err == nil && had {
		err = s.Delete(prefPrefix + k)
	}
	switch {
	case err != nil:
		a.storeDown(c, "prefs", err)
	case !had:
		errorJSON(c, http.StatusNotFound, "no such preference")
	default:
		c.Status(http.StatusNoContent)
	}
}
