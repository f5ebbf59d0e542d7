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
// Every key name is printable ASCII without spaces, so `redis-cli --scan
// --pattern 'vedfolnir:*' | xargs ...`, `wc -l` and Redis GUIs work. The
// prefix rule: a prefix that ends in "session:" (the seed's
// REDIS_SESSION_PREFIX=vedfolnir:session:) is the session keys' own, and
// the index and event names go beside them under the part before it; any
// other prefix (the default "vedfolnir:") is the namespace, and "session:"
// is appended for the sessions. Both give the seed's shape:
//
//	vedfolnir:session:{id}         a session (a string)
//	vedfolnir:users:{4 hex digits} a bucket of the per-user index (a sorted set)
//	vedfolnir:events:{topic}       a pub/sub channel
//
// The id is the first [IDLen] (26) characters of the 43-character store key
// ([store.KeyFromToken], base64url), which keeps the seed session's name at
// 44 bytes, in Redis's 48-byte allocation class; [KeyName] builds it and
// [IsKeyName] recognises one. Anything that is not a store key is refused
// with [store.ErrInvalid] before any call. The per-user index is spread
// over [IndexBuckets] sorted sets chosen by a SHA-256 of the user id
// ([IndexKeyName]); a member is a 2-byte tag of the same hash and the
// session's 32 raw key bytes ([IndexMember]; binary, to keep the index
// small). No byte of a user id reaches a key or a member, so ids such as
// "*" or "a:b" are harmless. No name has braces, so none carries a Cluster
// hash tag. The store's own paths never use KEYS or SCAN.
//
// Earlier versions named sessions {prefix}s: followed by 32 raw bytes and
// buckets {prefix}u:{4 hex digits}. [Store.MigrateKeys] moves such keys to
// the new names online, with SCAN over the old names of the store's own
// prefix; run it once after deploying.
//
// # Values
//
// A session is one string: a small header (format and version, created,
// last activity, idle and absolute deadlines as varints, 17 to 21 bytes for
// a real session), the user id, then the sealed payload. Bytes that do not
// decode are [store.ErrCorrupt], never a panic.
//
// # Memory
//
// The seed session as ginsession stores it (user id "1", a 161-byte sealed
// payload, a 184-byte value) takes 280 bytes by MEMORY USAGE with the
// default prefix (a 44-byte key name in the 48-byte class, 192-byte value
// allocation; values up to 188 bytes share that class), and its share of
// an index bucket about 45 bytes more (a 34-byte member and its score in a
// listpack, plus the bucket's own overhead spread over its members): 325
// bytes. 250,000 such sessions of 31,250 users take 96.8 MB of
// used_memory, about 387 bytes each with Redis's hash tables. A key per
// user, as a plain design would have, costs about 180 bytes per user
// instead; a fixed-width value header would push the value into the next
// allocation class.
//
// # Atomicity and round trips
//
// Writes run as Lua scripts that touch exactly one key (EVALSHA, EVAL when
// the script is not cached), so they are atomic on a Cluster too: Put is a
// compare-and-set on the version, Touch rebuilds the header in place,
// CopyIn writes only over an older or dead copy. Times come from the app's
// clock ([Options.Now]) and TTLs are set relative to it, so an entry dies
// by one clock; Get also checks the deadlines itself, so an entry is never
// returned past its deadline even before Redis purges it.
//
// Round trips: Get 1 (a GET); GetTouch 1 (a GET), and a second (the touch
// script) in the one call per touch interval that refreshes the idle
// deadline; Touch 1; Put 1 (on a create, script and index update in one
// pipeline; an update leaves the index alone); CopyIn 1; Delete 1; Ping 1;
// ListUser and DeleteUser at most 3. An untouched session costs nothing:
// the store is only called when a handler uses the session.
//
// # The user index
//
// Members are scored by each entry's absolute deadline in seconds (which
// nothing extends; Touch moves only the idle deadline), added with ZADD GT
// when an entry is created or copied in, and again when an update changes
// the entry's user id or absolute deadline (the put script reports it);
// buckets are kept alive until their last member's deadline and pruned with
// ZREMRANGEBYSCORE. The index may be briefly stale: Delete removes only the
// session (one round trip; it does not know the user), and on a Cluster the
// index lives on another node. ListUser and DeleteUser therefore read the
// user's bucket, keep the members with the user's tag, check every such
// member's entry (a pipeline of GETs, or of per-key delete scripts that
// first check the owner) and drop dead members as they meet them.
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
