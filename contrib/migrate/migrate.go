package migrate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	gsessions "github.com/gorilla/sessions"

	"github.com/vedfolnir/sessions/contrib/internal/legacy"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// EventImported is the kind of the event emitted when an old session has
// been imported: Session is the new session's handle, Detail
// "gin-contrib/sessions". The import's store write emits its own
// ginsession.EventCreated (or, when Map logs the user in, EventLogin).
const EventImported ginsession.EventKind = "imported"

// MapFunc moves an old session's values into the new session. old is the
// gin-contrib/sessions (gorilla) value map, as the old store decoded it. An
// error aborts the import: the old session is kept, and the new session
// keeps whatever MapFunc changed, so return errors before changing it.
type MapFunc func(c *gin.Context, old map[any]any, s *ginsession.Session) error

// Options configures [NewImporter].
type Options struct {
	// OldStore is the gin-contrib/sessions store the app used
	// (sessions/redis, sessions/cookie, ...), built with the same keys and
	// settings as before, so it can read and delete the old sessions.
	// Required.
	OldStore sessions.Store
	// OldName is the session (cookie) name the app passed to
	// sessions.Sessions(name, store). Required.
	OldName string
	// Map moves the values. Default [CopyValues]: every string-keyed value
	// under the same key. An app that kept its user id in the session
	// calls ginsession's Login from its own Map, so the user stays logged
	// in under the new library's identity too.
	Map MapFunc
}

// NewImporter returns a handler that moves gin-contrib/sessions sessions
// into ginsession sessions, so a switch of session library logs nobody
// out. Install it right after the ginsession middleware:
//
//	r.Use(mgr.Middleware(), migrate.Importer(migrate.Options{OldStore: old, OldName: "mysession"}))
//
// A request without the old cookie costs a cookie lookup and nothing else.
// When the request carries the old cookie and has no stored session of
// ours, the handler reads the old session with OldStore, maps its values
// into the request's session (Options.Map), saves it (a new token, a new
// cookie), and only then deletes the old session (OldStore.Save with
// MaxAge -1: the Redis key of a server-side store is deleted, and the old
// cookie is expired) and emits [EventImported]. If the request already has
// a stored session of ours, the old cookie is left alone.
//
// Nothing here fails a request. An old cookie that does not decode (forged,
// tampered, or signed with other keys) or names a session that no longer
// exists is expired and ignored; an old store that cannot be reached, a Map
// error or a failed save leave the old session for a later request; the
// failure is logged on the session manager's logger.
//
// Deploy the importer once every instance runs the new library: an old
// instance would not find the sessions it has moved. Sessions of
// gin-contrib's cookie store live in the cookie alone and cannot be
// deleted, only expired in the browser: a copy of such a cookie kept
// elsewhere can still be imported until its own MaxAge has passed.
func NewImporter(opts Options) (gin.HandlerFunc, error) {
	if opts.OldStore == nil {
		return nil, errors.New("migrate: OldStore is required")
	}
	if !validCookieName(opts.OldName) {
		return nil, fmt.Errorf("migrate: OldName %q is not a cookie name", opts.OldName)
	}
	if opts.Map == nil {
		opts.Map = CopyValues
	}
	im := &importer{opts: opts}
	return im.handle, nil
}

// Importer is [NewImporter] that panics on invalid options, at start-up.
func Importer(opts Options) gin.HandlerFunc {
	h, err := NewImporter(opts)
	if err != nil {
		panic(err)
	}
	return h
}

type importer struct{ opts Options }

func (im *importer) handle(c *gin.Context) {
	if legacy.Pending(c.Request, im.opts.OldName) {
		im.run(c)
	}
	c.Next()
}

func (im *importer) run(c *gin.Context) {
	s := ginsession.Current(c)
	m := s.Manager()
	log := m.Config().Logger
	_, stored, err := s.Info()
	if err != nil {
		log.WarnContext(c.Request.Context(), "migrate: session store unavailable, old session left for a later request", "err", err)
		return
	}
	if stored {
		return
	}
	old, outcome, err := legacy.Read(c.Request, im.opts.OldStore, im.opts.OldName)
	switch outcome {
	case legacy.None:
		return
	case legacy.Expire:
		log.DebugContext(c.Request.Context(), "migrate: old session cookie does not decode or names no session; expiring it", "err", err)
		im.expire(c, old, m.CookieName())
		return
	case legacy.Retry:
		log.WarnContext(c.Request.Context(), "migrate: old session unreadable, left for a later request", "err", err)
		return
	}
	if err := im.opts.Map(c, old.Values, s); err != nil {
		log.ErrorContext(c.Request.Context(), "migrate: map old session", "err", err)
		return
	}
	if err := s.Save(); err != nil {
		log.ErrorContext(c.Request.Context(), "migrate: save imported session; old session kept", "err", err)
		return
	}
	// The values are safe in our store: now delete the old session.
	if h, err := legacy.Delete(c.Request, im.opts.OldStore, old); err != nil {
		log.WarnContext(c.Request.Context(), "migrate: delete old session", "err", err)
		im.expire(c, old, m.CookieName())
	} else {
		legacy.Forward(c.Writer.Header(), h, m.CookieName())
	}
	if s.Handle() != "" {
		s.Emit(EventImported, "gin-contrib/sessions")
	}
}

// expire sends an expired old cookie, unless the old and new cookies share
// their name: then the new library's own cookie handling decides.
func (im *importer) expire(c *gin.Context, old *gsessions.Session, ours string) {
	if im.opts.OldName == ours {
		return
	}
	legacy.ExpireCookie(c.Writer, im.opts.OldName, old)
}

// CopyValues is the default [MapFunc]: it sets every value of old whose key
// is a string under the same key, in key order. Values it cannot take (a
// key that is not a string or that ginsession reserves, a value msgpack
// cannot encode, a session over the size limit) are skipped and logged on
// the session manager's logger, by key and reason, never by value.
func CopyValues(c *gin.Context, old map[any]any, s *ginsession.Session) error {
	log := s.Manager().Config().Logger
	keys := make([]string, 0, len(old))
	for k := range old {
		ks, ok := k.(string)
		if !ok {
			log.WarnContext(c.Request.Context(), "migrate: old value skipped: key is not a string", "key_type", fmt.Sprintf("%T", k))
			continue
		}
		keys = append(keys, ks)
	}
	slices.Sort(keys)
	for _, k := range keys {
		err := s.Set(k, old[k])
		switch {
		case err == nil:
		case errors.Is(err, store.ErrUnavailable):
			return fmt.Errorf("migrate: copy values: %w", err)
		default:
			log.WarnContext(c.Request.Context(), "migrate: old value skipped", "key", k, "value_type", fmt.Sprintf("%T", old[k]), "err", err)
		}
	}
	return nil
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
