// Package security is the adversarial test suite of the session system. It
// holds no library code: everything is in its _test.go files, and this file
// explains what they prove.
//
// One table of attacks (TestAdversarial in adversarial_test.go) runs
// against every backend, over real HTTP, as subtests named
//
//	TestAdversarial/<store>/<case>
//
// where <store> is sqlite (dbstore on a temporary file), postgres (dbstore
// on a fresh schema of the shared PostgreSQL from internal/testserver) and
// redis (redisstore on the shared redis-server, under a prefix of its own).
// A missing server skips its store, unless CI or REQUIRE_SERVICES is set.
//
// Each case gets a small gin app of its own: a [github.com/vedfolnir/sessions/ginsession.Manager] with an
// event recorder, gin's trusted proxies set to none, RequireCSRF on unsafe
// methods, and routes to log in and out, get and set values, list and
// revoke a user's sessions, read the CSRF token and echo the client IP.
// Clients are net/http clients with cookie jars; the few requests net/http
// refuses to send (control bytes in a Cookie header) go over raw TCP. The
// case reaches the store directly, through store.Store and through raw SQL
// or Redis commands, to inspect and tamper with what the app keeps.
//
// A case is one function that sets the scene, marks the moment of the
// attack, attacks, and checks what only it knows. The runner then checks,
// for every case, what every attack must leave true:
//
//   - the server never panicked and never answered 5xx;
//   - it still answers afterwards;
//   - the expected "rejected" event was emitted, with the right reason
//     (malformed, unknown, decrypt, corrupt, fingerprint), or none at all;
//   - where the attack must change nothing, the store holds exactly what it
//     held at the mark (every row or key of the app's namespace, byte for
//     byte), and a malformed cookie cost no store call.
//
// TestRunnerCatches (selftest_test.go) feeds the runner broken cases, one
// per check, and proves that each check fails them.
//
// Cases cover hostile cookies (empty, quoted, escaped, non-canonical,
// oversize, duplicated, ten thousand at once, control bytes), tokens the app
// never issued or issued elsewhere, a store key or handle presented as a
// token, tampered, truncated, moved and replayed envelopes, metadata
// rewritten in the store (user id, deadlines), msgpack bombs sealed with the
// app's own key, oversize values and forms, fixation, logout replay, races
// between logout, revocation, saves, rotation (on login and periodic) and
// concurrent logins under a session limit, CSRF tokens of the wrong session
// or form, cross-site requests, reserved keys through app routes, injection
// strings in user ids, user agents and values, odd and absurd user ids,
// spoofed forwarding headers, fingerprint theft, and the cookie attributes
// of the default configuration over TLS.
//
// A case may carry a known issue: a gap in the library's defences that the
// suite has found and reported. Such a case is run and expected to fail; it
// is then skipped with the text, so the suite stays green while the
// issue is open. When the library is fixed the case passes, and the runner
// fails it with a request to remove the mark: no fix goes unnoticed and no
// regression hides behind it.
//
// The reference app itself (package main of example/) is attacked by the
// security tests beside it, in example/security_test.go, through its real
// routes and servers: what anonymous floods store (sessions, audit rows),
// slow bodies against the servers' timeouts, the event stream against the
// same timeouts, Redis connections per stream and the stream caps, secrets
// in connection URLs against the start log and the pages, method override,
// HEAD and OPTIONS against CSRF, logout-all and login through an old token
// during the rotation grace, and the absolute deadline across rotations.
package security
