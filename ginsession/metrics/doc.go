// Package metrics exports session metrics to Prometheus: events counted by
// kind and reason, store operations timed and their failures classified,
// and gauges of a storage fallback and the audit writer.
//
// Everything registers on the [prometheus.Registerer] the app passes to
// [New]; the package has no global state, so two apps (or two tests) in
// one process never share a series.
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg, metrics.Options{})
//	st, err := redisstore.New(client, redisstore.Options{Observer: m.Observer()})
//	cfg.Store, cfg.Observer = st, m.Observer()
//	cfg.OnEvent = append(cfg.OnEvent, m.Handle)
//	m.RegisterRedisPool("sessions", client)
//	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
//
// # Events
//
// [Metrics.Handle] is a ginsession.EventHandler. It counts sessions
// created, logins, rotations, platform switches, sessions destroyed (by
// logout, revocation, eviction or expiry), rejections by reason, and
// fallback transitions. Every label value comes from a fixed set: nothing a
// client sends can create a series.
//
// # Stores
//
// [Metrics.Observer] is a store.Observer, the hook the stores of this
// module (redisstore, dbstore, hybrid: Options.Observer) and ginsession
// (Config.Observer) call around every operation; storage.Options.Observer
// hands it to all of them. It times each operation and counts its failures
// (by [ErrorKind]), its compare-and-set conflicts and, for a hybrid store,
// the calls its secondary served. The series of every operation exist at
// zero from the start ([Options].Stores), so an alert on a rate of errors
// works before the first one. An observation costs no allocation. The same
// hook carries the tracing package's spans: combine the two with
// store.JoinObservers.
//
// # Gauges
//
// [Metrics.RegisterHybrid], [Metrics.RegisterRedisPool],
// [Metrics.RegisterDBStats] and [Metrics.RegisterAuditDrops] export values
// the app's hybrid store, Redis client, SQL database and audit writer report
// at each scrape.
//
// # Names
//
// Every name starts with [Options].Namespace ("sessions" by default) and
// passes promlint. The README's Observability section has alert rules and a
// dashboard built on them.
package metrics
