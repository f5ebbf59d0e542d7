// Package migrate moves an app's users from gin-contrib/sessions to
// ginsession without logging them out.
//
// Install [Importer] right after the ginsession middleware, with the old
// store built as before (same keys, same Redis, same options):
//
//	old, _ := redis.NewStore(10, "tcp", "localhost:6379", "", "", hashKey, blockKey)
//	r.Use(ginsession.New(cfg))
//	r.Use(migrate.Importer(migrate.Options{OldStore: old, OldName: "mysession"}))
//
// On the first request that carries the old cookie and no session of ours,
// the old session is read with gin-contrib/sessions itself, its values are
// copied into a new ginsession session ([CopyValues], or the app's own
// [MapFunc], which typically calls ginsession's Login with the old user
// id), the new session is saved under a new token, and only then is the old
// session deleted and its cookie expired. An [EventImported] event follows
// (count it with the metrics package by listing it in its
// Options.ExtraEventKinds).
//
// gin-contrib/sessions encodes values with gob; ginsession with msgpack.
// Values msgpack cannot encode and keys that are not strings are skipped
// and logged (by key, never by value); custom types the old app stored must
// still be registered with gob (gob.Register) so the old store can decode
// them.
//
// Nothing the importer meets fails a request: a forged or tampered old
// cookie is expired and ignored, and an unreachable old store leaves the
// old session for a later request. Once no old cookies are seen any more,
// remove the importer.
//
// The package is part of the module github.com/vedfolnir/sessions/contrib,
// so gin-contrib/sessions and gorilla reach only the programs that import
// it. To keep the gin-contrib API and handlers instead of moving to
// ginsession, use that module's drop-in store (package contrib), which
// carries old sessions over the same way.
package migrate
