// Package ginsession is server-side session middleware for Gin.
//
// Sessions live in a [store.Store] (Redis, SQL, or both); the browser holds
// only a 256-bit random token in an HttpOnly, Secure, SameSite=Lax cookie
// (with the __Host- prefix when it applies). The store is keyed by the
// token's SHA-256 and holds values msgpack-encoded and sealed with an AEAD,
// so neither a store dump nor a backup yields a usable cookie or readable
// data.
//
//	st, _ := dbstore.Open(ctx, "sessions.db", dbstore.Options{})
//	keys, _ := store.ParseKeyring(os.Getenv("SESSION_ENCRYPTION_KEYS"))
//	r := gin.New()
//	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
//	r.GET("/", func(c *gin.Context) {
//		s := ginsession.Current(c)
//		n := ginsession.GetOr(s, "visits", 0)
//		_ = s.Set("visits", n+1)
//		c.String(200, "visit %d", n+1)
//	})
//
// # A request, step by step
//
//  1. The middleware puts a lazy [Session] on the gin context. A request
//     that never touches it makes no store call.
//  2. On first use the cookie is read. Anything but exactly one canonical
//     token is "no session", decided before any store call. The entry is
//     read, its deadlines checked, its envelope opened and its values
//     decoded; an unknown, expired, undecryptable or tampered session
//     becomes a fresh empty one with a new token (never the client's), and
//     an [Event] says why.
//  3. [Session.Set] encodes at the call, so type errors and size limits
//     surface there; [Get] decodes straight into the caller's type.
//  4. The session is committed just before the response headers go out, or
//     at the end of the chain when nothing was written: streaming responses
//     work, and a failed save can still replace the response: a 503 with
//     Retry-After when the store is unavailable ([Config.OnUnavailable];
//     also when the session could not be read), a 500 otherwise. Handlers
//     never call Save. A change after the commit is refused with
//     [ErrCommitted] and logged once.
//  5. A save is a compare-and-set on the entry's version. When another
//     request of the same session won, this request's changes are re-applied
//     on the fresh copy: concurrent requests that change different keys never
//     lose each other's work.
//
// # Identity
//
// [Session.Login] rotates the token at once (the old token is dead when it
// returns, which defeats fixation), renews the CSRF token and records the
// user id in the entry for per-user session management. A login over
// another user's session starts clean: none of that user's values carry
// over. The new entry is written once, by the commit, with the values the
// handler sets after Login (with [Config.MaxSessionsPerUser], Login writes
// it at once for the limit's check). [Session.Logout], revocation,
// eviction, rotation and a fingerprint mismatch all end a session the same
// way, by a tombstone: a slow request that saves afterwards, or an older
// copy of the entry, cannot resurrect it.
// [Session.Rotate] is for other privilege changes; [Config.OnRotate] hooks see old
// and new handles (never tokens) and may veto.
//
// # Anonymous visitors
//
// A visitor who has not logged in nor set a value costs no store write:
// [Session.CSRFToken] gives it a visitor token, signed with a key derived
// from the key ring and bound to a short-lived cookie, which
// [RequireCSRF] accepts for requests without a logged-in user. A login
// form thus needs no stored session, and a flood of visitors stores
// nothing.
//
// # Flashes
//
// [Session.AddFlash] keeps a one-time value of any type in a category;
// [Flashes] returns and removes those of one category, decoded into its
// type parameter. A flash of another type is kept and reported
// ([ErrFlashType]), never dropped.
//
// # Several sessions
//
// Middlewares of several managers may run on one request (an application
// session and an admin one, with their own cookies, timeouts and stores):
// each [Config.Name] is a session, found by [CurrentNamed], and [Current]
// is the one without a name. They commit independently; two that share a
// name or a cookie fail the request with [ErrSessionConflict].
//
// # Configuration
//
// [Config]'s zero values are the safe defaults; [ConfigFromEnv] reads the
// environment (REDIS_SESSION_TIMEOUT, SESSION_COOKIE_NAME, ...) and refuses
// bad values by name.
//
// # Observing
//
// [Config.Observer] (a store.Observer, the hook the stores take too) is
// told of each session load and save that calls the store, with its
// duration, outcome and conflict retries; the metrics and tracing packages
// implement it. Log lines written for a request go through
// [Config.Logger]'s Context methods with the request's context, and name
// the session by its handle, never its token.
package ginsession
