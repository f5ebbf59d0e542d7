// Package storage picks and opens the session storage from the
// environment: Redis, SQL, or both (hybrid), and makes switching between
// them at restart lose no session and never serve a stale copy.
//
//	var mgr atomic.Pointer[ginsession.Manager]
//	var opts storage.Options
//	opts.Hybrid.OnStateChange = func(engaged bool) { // hybrid only
//		kind := ginsession.EventFallbackRecovered
//		if engaged {
//			kind = ginsession.EventFallbackEngaged
//		}
//		if m := mgr.Load(); m != nil {
//			m.Emit(ginsession.Event{Kind: kind})
//		}
//	}
//	st, err := storage.FromEnv(ctx, opts)
//	if err != nil {
//		log.Fatal(err) // names the variable at fault
//	}
//	defer st.Close()
//	m, err := ginsession.NewManager(ginsession.Config{Store: st.Store(), Keyring: keys})
//	...
//	mgr.Store(m)
//
// [Storage.Health] is the one health report of the session storage (the
// ginsession/health package serves it to gin); [Storage.Broker] carries
// session events between instances (Redis pub/sub) when there is a Redis.
// [Options].Observer (metrics, tracing: a store.Observer) is given to every
// store Open builds; [Storage.RedisClient] and [Storage.DB] give the
// connection pools to export.
//
// # Environment
//
//	SESSION_STORAGE       redis | database | hybrid
//	                      default: hybrid when REDIS_URL and DATABASE_URL are both set,
//	                      redis when only REDIS_URL is, database otherwise
//	REDIS_URL             redis://host:6379/0 (also rediss://, +cluster, +sentinel)
//	REDIS_SESSION_PREFIX  Redis key prefix, default "vedfolnir:"
//	DATABASE_URL          postgres://..., mysql://... or a SQLite path; default Options.DefaultSQLitePath
//
// A bad value is an error wrapping [ErrConfig] that names the variable.
//
// Redis clients get fail-fast settings (redisstore.NewFromURL: 250 ms dial,
// read and write timeouts, one dial attempt, no retries,
// ContextTimeoutEnabled), so a frozen Redis costs a request a few hundred
// milliseconds once, not go-redis's default ten seconds; after that the
// hybrid store's breaker sends calls straight to SQL.
//
// # Hybrid
//
// [ModeHybrid] is a [hybrid.Store]: Redis serves, SQL mirrors every write
// (write-through by default), and SQL takes over when Redis fails, within
// the failing call. See package hybrid for the failure handling and its
// limits. The Redis keys of the sessions live under a namespace named by a
// generation kept in SQL ([NamespacePrefix]: the plain prefix for
// generation 1, "{prefix}g{n}:" after), so that once SQL has been written
// without Redis, by an outage or by database mode, the old Redis copies are
// never read again: sessions refill the new namespace from SQL on first
// use, and the old one expires by TTL.
//
// # Switching modes at restart
//
// Each mode leaves what the next one needs:
//
//   - database → hybrid (the rollout): hybrid reads the generation from SQL;
//     Redis starts empty (or in a fresh namespace) and fills from SQL.
//   - hybrid → database (the rollback): SQL holds every session. Database
//     mode ([hybrid.SecondaryOnly]) increments the generation at start, and
//     again every second while it writes, so a later hybrid start (or a hybrid instance still
//     running) uses a fresh Redis namespace: sessions changed or deleted in
//     database mode are read from SQL, never from the old Redis copies.
//   - redis → hybrid: Redis holds sessions SQL lacks, and SQL may hold stale
//     copies from an earlier hybrid period. Redis mode records itself in
//     Redis; hybrid sees that, keeps Redis's namespace as the truth and sets
//     the trust cut-off ([hybrid.Generation].TrustFrom): SQL copies last
//     active before it are never served, and each Redis session is copied
//     into SQL (its activity refreshed) on first read. A session read in
//     hybrid mode therefore survives a later switch to database mode.
//   - hybrid → redis: redis mode reads the current namespace from the mode
//     record hybrid keeps in Redis. Sessions that only SQL held (not yet
//     refilled after an outage) are lost.
//
// Limits. database → redis directly: database mode marks Redis stale when
// it can reach it at start (redis mode then starts a fresh, empty
// namespace: sessions are lost, none is stale); when it cannot, redis mode
// would serve copies from before the database period: go through hybrid.
// redis → database directly loses the sessions SQL never saw. A switch
// between redis and hybrid must be made while Redis answers (hybrid cannot
// read the mode record otherwise), and with no redis-mode instance still
// running (their later writes escape the cut-off); rolling switches
// between database and hybrid are covered by the generation.
//
// # Health
//
// [Storage.Health] checks the backends the mode uses, each within
// Options.HealthTimeout, and gives one report: ok, degraded (hybrid with
// one backend down, serving from SQL, or its mirror writes failing; an
// outage of Options.HealthDB in redis mode) or down (sessions cannot be
// served). Its errors are categories such as "redis: unavailable"; the
// error behind each, which may name hosts and ports, goes to the logger.
package storage
