// Package health serves the session storage's health report
// ([storage.Health]) to gin, for load balancers, orchestrators and people:
//
//	st, err := storage.FromEnv(ctx, storage.Options{})
//	...
//	admin.GET("/healthz", health.Handler(st, health.Options{}))
//
// answers, in hybrid mode with Redis down,
//
//	{"status":"degraded","storage":"hybrid",
//	 "redis":{"status":"down","error":"redis: unavailable"},
//	 "database":{"status":"up","latency_ms":0.41},
//	 "hybrid":{"engaged":true,"breaker":"open",...},
//	 "checked_at":"2026-01-02T03:04:05Z"}
//
// The report, its status rules and its bounded checks are the storage
// package's ([storage.Storage.Health]); this package adds only the HTTP
// side: the JSON answer (503 when down, 200 when ok or degraded, since a
// degraded app still serves sessions), Cache-Control: no-store, and a
// cache (Options.CacheFor, 1 s by default) so scrapes cannot hammer the
// stores.
//
// The report's errors are categories ("redis: unavailable"); the errors
// behind them, which name hosts and ports, go to the storage's logger.
// Mount the handler where operators and probes reach it all the same.
package health
