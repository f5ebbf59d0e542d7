// Package store defines how sessions are kept: the [Store] contract every
// backend implements, the record a store keeps ([Entry]), the token that
// names a session ([Token]), the codec that turns session values into bytes
// ([EncodeValue], [EncodeRecord]) and the envelope that encrypts those bytes
// ([Keyring]). It imports no web framework, no Redis and no SQL: backends
// live in their own packages and depend on this one.
//
// # From cookie to entry
//
// A session is named by a [Token]: 256 bits from crypto/rand, 43 characters
// of base64url, the only secret the browser holds. [ParseToken] accepts
// exactly the form [NewToken] makes, so a malformed cookie is refused before
// any store call. The store never sees the token: entries are kept under
// [KeyFromToken] (a SHA-256 of it), and logs, events and session lists use
// [Handle] (a hash of the key). A leaked database dump holds neither.
//
// An [Entry] carries what a backend needs in the clear (key, version, user
// id for the per-user index, times and deadlines) and an opaque Payload: the
// session's values, encoded by the codec and sealed by a [Keyring].
//
//	tok := store.NewToken()            // set as cookie: tok.String()
//	key := tok.Key()                   // the entry's Key
//
//	raw, _ := store.EncodeValue("alice", store.Limits{})
//	rec, _ := store.EncodeRecord(map[string][]byte{"username": raw}, store.Limits{})
//
//	ring, _ := store.ParseKeyring(os.Getenv(store.EnvKeys))
//	payload, _ := ring.Seal(key, 's', rec)
//
//	err := st.Put(ctx, &store.Entry{Key: key, Version: 1, Payload: payload, ...}, 0)
//
// and back again:
//
//	e, err := st.Get(ctx, key)
//	rec, stale, err := ring.Open(key, 's', e.Payload) // stale: re-seal on the next save
//	values, err := store.DecodeRecord(rec, store.Limits{})
//	var name string
//	err = store.DecodeValue(values["username"], &name, store.Limits{})
//
// # The codec
//
// Values are msgpack, kept per key as raw bytes: [EncodeValue] runs when the
// application sets a value (so a type error shows at the call) and
// [DecodeValue] when it reads one, straight into the caller's type. There is
// no type registration and no gob. A record ([EncodeRecord]) is a plain
// msgpack map from key to value with its keys sorted.
//
// Bytes read back from a store are untrusted: a backend may be shared, a
// backup restored, a key ring misconfigured. Before the msgpack decoder sees
// any bytes, a validator walks them without allocating and without
// recursion, enforcing [Limits] (total size, nesting depth, elements and
// string lengths), checking every declared length against the bytes that
// remain, refusing every extension type but the msgpack timestamp, and
// refusing trailing bytes. A 5-byte header that claims four billion
// elements costs a few bytes of error message. Failures wrap [ErrDecode],
// and [ErrLimit] (and [ErrTooLarge] for size) when a bound was hit.
//
// # The envelope
//
// [Keyring.Seal] produces
//
//	version (1) ‖ key tag (1) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
//
// The key tag is the first byte of HMAC-SHA256(key, "sessions/key-id") (the
// first 4 bytes are the key's id in logs, [Key.ID]): it picks the key to open
// with and reveals nothing about it. Keys of a ring whose tags collide (one
// pair in 256) are each tried; the AEAD tells which one sealed. One byte
// rather than four keeps the seed session's Redis value in a smaller
// allocation class. The associated data binds the version byte, the key
// tag, a record type byte and the store key, so an envelope copied to
// another entry, relabelled with another key tag or version, or read as
// another kind of record does not open. [Keyring.SealWith] binds extra
// bytes the caller keeps elsewhere: ginsession binds an entry's plaintext
// user id, creation time and absolute deadline this way, so a store writer
// who edits them breaks the envelope, at no stored byte.
// [Keyring.Open] fails with exactly [ErrOpen] whatever went wrong, and never
// falls back to another format.
//
// Nonces. AES-GCM with random 96-bit nonces is safe for at most 2^32
// messages per key (NIST SP 800-38D, section 8.3): beyond that, the chance
// that two messages share a nonce (which reveals the XOR of their
// plaintexts and lets an attacker forge tags) exceeds 2^-32. A busy site
// sealing 10,000 sessions a second seals 3.15e11 ≈ 2^38 messages a year:
// far past that bound under one key. So no message is ever sealed under the
// ring key itself. Each entry gets its own key,
//
//	entry key = HKDF-SHA256(secret: ring key, info: "sessions/v1" ‖ store key)
//
// and the random nonce is drawn under that. The 2^32 bound now counts seals
// of one session, which never comes near it (a session saved every
// millisecond for a month is 2^31.3 seals), and a nonce repeated across two
// sessions is harmless because their keys differ. Store keys are 256-bit
// hashes of random tokens, so two sessions never share an entry key.
// Deriving costs one HKDF and one AES key schedule per seal or open: a seal
// or open of a typical session takes a few microseconds in all, small next
// to one round trip to the store, so nothing secret is cached.
//
// Threat model. The envelope protects session values from whoever can read
// or write the backend but does not hold the ring: a leaked Redis dump or
// SQL backup, a shared cache, an operator. They cannot read values, forge
// them, move a session's values into another session, or alter them
// undetected. They can delete an entry, or put back an older envelope of
// the same session (a replay): the version and deadlines an [Entry] carries
// in the clear are the store's to enforce, not the envelope's. Whoever holds
// the ring (the application's environment) can do anything; protect
// SESSION_ENCRYPTION_KEYS like a database password.
//
// Rotation. Put a new key first in the ring and keep the old ones after it:
// new envelopes use the new key, old ones still open and report stale, and
// the session layer re-seals them on their next save. Once the longest
// session lifetime has passed, drop the old key. [GenerateKey] makes a key
// in the text form [ParseKeyring] reads. [Key] and [Keyring] redact
// themselves in slog, fmt and JSON output.
package store
