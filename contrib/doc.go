// Package contrib is a drop-in store for gin-contrib/sessions: change the
// line that builds the store, keep every handler, and the sessions are
// kept server-side in a store of this module (Redis, SQL, or the hybrid of
// both), encrypted, under hashed keys, with saves that lose no update.
//
//	// before: store := cookie.NewStore([]byte("secret"))
//	store, err := contrib.NewStore(ourStore, keyring, contrib.Options{})
//	r.Use(sessions.Sessions("mysession", store))
//	// handlers unchanged: sessions.Default(c).Get/Set/Save, flashes, Options
//
// What changes under the handlers:
//
//   - The cookie carries only a 256-bit random token. The store keeps the
//     token's SHA-256 and the values sealed with the key ring
//     (AES-256-GCM, the store key as associated data): a leaked Redis dump
//     or SQL backup yields no cookie and no value.
//   - Values keep their Go types (v.(int) still works): they are gob-encoded
//     as gorilla does, inside the sealed envelope, which is authenticated
//     before anything is decoded. The gob rule gin-contrib users already
//     follow still holds: call gob.Register for every custom type stored
//     in a session (builtin types, and slices and maps of them, need none).
//   - Save is a compare-and-set: when two requests of one session save
//     concurrently, each one's changed keys are merged onto the other's
//     copy, so both changes survive (gin-contrib and gorilla keep only the
//     last save). On the same key the last save wins.
//   - Options (per store and per session: Path, Domain, MaxAge, Secure,
//     HttpOnly, SameSite) set the cookie as gin-contrib's do, and MaxAge
//     also sets how long the stored session lives after each save;
//     MaxAge < 0 deletes the stored session, not only the cookie.
//   - A missing, malformed, unknown, expired or foreign token is a fresh,
//     empty session, never an error page. A store outage is an error from
//     Save wrapping store.ErrUnavailable (answer 503): the user's session
//     is never replaced by an empty one.
//   - Several named sessions in one request (sessions.SessionsMany) each
//     get their own cookie and token.
//
// Switching loses nobody: set [Options].Old to the old gin-contrib store,
// built as before. A request with an old cookie is served the old
// session's values; its first save stores them under a fresh token,
// replaces the cookie, and deletes the old copy (the same reading and
// deleting code as the importer into ginsession, package migrate). A
// request that never saves keeps being served from the old copy.
//
// The package lives in the module github.com/vedfolnir/sessions/contrib,
// so gin-contrib/sessions and gorilla reach only programs that import it.
// Its README explains when to move on from the gin-contrib API to
// ginsession itself (lazy loading, typed values, token rotation, per-user
// session lists).
package contrib
