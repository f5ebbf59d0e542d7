// Package redisstore is the Redis backend of [store.Store], on a go-redis
// v9 [redis.UniversalClient]: a plain server, Sentinel or Redis Cluster,
// unchanged.
//
//	client := redis.NewUniversalClient(redisstore.UniversalOptions("127.0.0.1:6379"))
//	s, err := redisstore.New(client, redisstore.Options{}) // prefix "vedfolnir:"
//	// or: s, err := redisstore.NewFromURL(os.Getenv("REDIS_URL"), redisstore.Options{})
//
// # Keys
//
// A session lives at {prefix}session:{key}, where key is the 43-character
// store key ([store.KeyFromToken]); anything else is refused with
// [store.ErrInvalid] before any call. A user's index is the sorted set
// {prefix}user_sessions:{base64url(sha256(user id))}: no byte of a user id
// reaches a key, so ids such as "*" or "a:b" are harmless. The store never
// uses KEYS or SCAN.
//
// # Values
//
// A session is one string: a small header (format and version, created,
// last activity, idle and absolute deadlines as varints, 17 to 21 bytes for
// a real session), the user id, then the sealed payload. The seed-shaped
// session (user id "1", a 191-byte sealed payload) takes 344 bytes by
// MEMORY USAGE with the default prefix; a fixed-width header would take 376.
// Bytes that do not decode are [store.ErrCorrupt], never a panic.
//
// # Atomicity and round trips
//
// Writes run as Lua scripts that touch exactly one key (EVALSHA, EVAL when
// the script is not cached), so they are atomic on a Cluster too: Put is a
// compare-and-set on the version, Touch and GetTouch rebuild the header in
// place, CopyIn writes only over an older or dead copy. Times come from the
// app's clock ([Options.Now]) and TTLs are set relative to it, so an entry
// dies by one clock; Get also checks the deadlines itself, so an entry is
// never returned past its deadline even before Redis purges it.
//
// Round trips: Get 1 (a GET), GetTouch 1, Touch 1, Put 1 (script and index
// update in one pipeline), CopyIn 1, Delete 1, Ping 1; ListUser and
// DeleteUser at most 3. An untouched session costs nothing: the store is
// only called when a handler uses the session.
//
// # The user index
//
// The index is a sorted set of store keys scored by each entry's absolute
// deadline (which nothing extends; Touch moves only the idle deadline and
// cannot update the index in its single round trip), updated with ZADD GT
// in Put's pipeline, kept alive until its last member's deadline, and
// pruned with ZREMRANGEBYSCORE. It may be briefly stale: Delete removes
// only the session (one round trip; it does not know the user), and on a
// Cluster the index lives on another node. ListUser and DeleteUser
// therefore check every member's entry (a pipeline of GETs, or of
// per-key delete scripts that first check the owner) and drop dead members
// from the index as they meet them.
//
// # Failing fast
//
// go-redis v9.23's defaults hold a call up to 10 s on a frozen server.
// [UniversalOptions] and [NewFromURL] use 250 ms dial, read and write
// timeouts, one dial attempt, no retries and ContextTimeoutEnabled, so a
// dead server fails a call at once and a frozen one within about 250 ms.
// Such errors wrap both [store.ErrUnavailable] and go-redis's own error;
// redis.Nil never escapes.
//
// # Events
//
// The store is a [store.Broker]: topics map to channels
// {prefix}events:{topic}, with sharded pub/sub (SPUBLISH/SSUBSCRIBE,
// Redis 7) on a Cluster. Subscribers that fall behind lose messages rather
// than slow anyone down.
package redisstore
