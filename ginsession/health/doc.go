// Package health serves the health of the session storage as JSON, for
// load balancers, orchestrators and people:
//
//	r.GET("/healthz", health.Handler(health.Options{
//		Mode:     os.Getenv("SESSION_STORAGE"), // redis | database | hybrid
//		Redis:    redisClient,
//		DB:       db,
//		Fallback: func() health.FallbackState { ... }, // from the storage fallback
//	}))
//
// answers
//
//	{"status":"degraded","storage":"hybrid",
//	 "redis":{"status":"down","error":"dial tcp 127.0.0.1:6379: connect: connection refused"},
//	 "database":{"status":"up","latency_ms":0.41},
//	 "fallback":{"engaged":true,"breaker":"open","mirror_lag_ms":0,"queue_depth":0},
//	 "checked_at":"2026-01-02T03:04:05Z"}
//
// # Status
//
// The stores the mode serves from decide: in redis mode a Redis outage is
// down, in database mode a database outage is, and in hybrid mode one
// outage is degraded and two are down. An outage of an optional component
// (a database given in redis mode, say) or an engaged fallback is
// degraded. Down answers 503; ok and degraded answer 200, since a degraded
// app still serves sessions.
//
// # Bounded
//
// Each component is checked with a timeout (Options.Timeout, 1 s by
// default) and reports down when it has not answered by then, even when
// its client ignores deadlines (a frozen Redis under go-redis's default
// options holds a PING for its 5 s read timeout). The check goes on in the
// background, and at most one per component is in flight. Reports are
// cached for Options.CacheFor (1 s) so scrapes cannot hammer the stores.
//
// Error texts name hosts and ports: mount the handler where only operators
// and probes reach it.
package health
