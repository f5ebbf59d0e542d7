// Package hybrid composes two session stores into one: a fast primary
// (Redis) that serves, and a durable secondary (SQL) that mirrors every
// session and takes over when the primary fails. The result, a [Store], is
// a [store.Store] like any other: the session layer does not know it is
// talking to two backends, and the store/storetest suite proves it behaves
// as one.
//
//	primary, _ := redisstore.New(client, redisstore.Options{})
//	secondary, _ := dbstore.Open(ctx, "sessions.db", dbstore.Options{})
//	h, err := hybrid.New(primary, secondary, hybrid.Options{
//		OnStateChange: func(engaged bool) { log.Println("serving from SQL:", engaged) },
//	})
//	if err != nil { ... }
//	defer h.Close()
//	mgr, err := ginsession.NewManager(ginsession.Config{Store: h, ...})
//
// Both stores must implement [store.Copier] and [store.UserIndex] (every
// store of this module does). Most applications do not build a Store by
// hand: package storage opens one for SESSION_STORAGE=hybrid, with the
// Redis namespaces and the records that make mode switches safe.
//
// # Healthy
//
// Reads go to the primary. A write is a compare-and-set on the primary,
// then a [store.Copier] CopyIn of the same entry into the secondary: within
// the call by default (write-through), or from a background queue with
// [Options.WriteBehind]. When the secondary is a [store.BatchCopier]
// (package dbstore is), the write-through copies of concurrent calls are
// group-committed: one transaction carries every copy that arrived while
// the previous one committed, and each call still returns only once its
// own copy is in ([Status.MirrorBatches]). Deletes and touches go to both. When only the
// mirror write fails, the call still succeeds and the key goes on a
// bounded queue, coalesced per key (the latest state wins), that a few
// workers retry until the secondary answers again; [Store.Status] reports
// its depth and lag. A primary miss is looked up in the secondary and, when
// found, copied back into the primary (read-through refill): a primary that
// lost its data, or a new primary namespace, fills itself on demand.
//
// # Primary failure
//
// An outage error from the primary (one wrapping [store.ErrUnavailable],
// or a context deadline: never store.ErrNotFound, store.ErrConflict,
// store.ErrTooLarge, ...) makes the same call run on the secondary at once,
// so the caller sees no error. A circuit breaker (sony/gobreaker) opens
// after [Options.FailureThreshold] consecutive failed reads, or at the
// first failed write (a write that went to the secondary alone leaves the
// primary stale for that key). While it is open, the store is engaged:
// every call goes straight to the secondary without waiting on the
// primary, and primary calls still in flight are cancelled. Every
// [Options.ProbeInterval] a probe checks the primary; when it answers, the
// store recovers (below) and serves from the primary again.
// [Options.OnStateChange] hears both transitions.
//
// # Recovery, and what one instance cannot know
//
// Sessions written or deleted during an outage exist in the secondary
// only. This instance remembers the keys it touched while engaged, but
// other instances of the application wrote during the same outage, or
// during a network partition that only they saw, and this instance cannot
// know their keys. A primary that comes back holding its old data (a
// frozen server, a partition) holds stale copies of those sessions: a
// logout undone, a platform switch reverted.
//
// So the store namespaces the primary by a generation
// ([Options.Namespace], [Generation]), recorded in the secondary under a
// reserved key ([GenerationKey]). Any instance that wrote the secondary
// without the primary increments it (once per [Options.GenerationInterval]
// while it keeps doing so, and once more before it recovers), and an
// instance recovers into the namespace of the newest generation. That
// namespace holds no copy older than the secondary's, so a stale copy is
// never read; sessions fill it from the secondary on first use, and the
// keys this instance touched during the outage are copied ahead of demand.
// The old namespace is never read again and expires by its entries' TTLs.
// Every instance reads the generation record every
// [Options.FleetPollInterval] and moves to a newer namespace when it sees
// one.
//
// # A fleet
//
// Several instances on one primary and one secondary read their own writes
// through an outage and its recovery: no instance serves a primary copy
// older than a write another instance acknowledged. An instance that writes
// the secondary alone first holds a lease of its own in the generation
// record, announced for [Options.FleetWindow] before its first such write
// is acknowledged, whatever other leases are live; while any lease is live, or an instance has not read the
// record for FleetWindow, or it has just moved namespace, it
// checks every primary copy against the secondary and serves the newer
// version. A holder that recovers increments the generation and removes
// its lease; a lease that expires (its holder died) is removed, with one
// more increment, by the first instance that sees it. Why that suffices:
// the secondary holds every acknowledged write; every secondary-only write
// happens under a lease every instance knows of (or an instance that does
// not know checks anyway); and once the last lease is gone, every
// instance serves from a namespace created after the last secondary-only
// write, filled from the secondary. It assumes write-through (with
// WriteBehind an acknowledged write may not be in the secondary yet),
// instance clocks within [Options.ClockSkew] of each other, and
// LeaseDuration above twice that. The module's fleet test drives three
// instances of the reference app through a Redis outage and counts stale
// cross-instance reads: none.
//
// Costs: a secondary read per request while a lease is live, about
// [Options.LeaseDuration] past the last secondary-only write; the first
// secondary-only write of an outage waits FleetWindow; every
// outage leaves the primary cold: each active session costs one secondary
// read and one primary write on its next use.
//
// Without a Namespace, the keys this instance touched are reconciled into
// the same primary before it serves again (copied from the secondary when
// present there, deleted from the primary when not, so a logout during the
// outage is not undone), and versions decide every copy: an older copy
// never overwrites a newer one. That is sound for a single instance only.
//
// # Serving one store alone, and trust
//
// An application may also run on one of the two stores for a while (the
// storage modes redis and database). The generation record keeps that
// honest for the next hybrid start:
//
//   - [MarkPrimaryOnly]: the primary is about to be written without the
//     secondary, whose copies may go stale from now on.
//   - [OpenSecondaryOnly] returns the secondary serving alone, a
//     [SecondaryOnly]: it increments the generation at start and while it
//     writes, so no primary namespace older than its writes is read again.
//   - [ResumeGeneration] prepares the record for a [Store] about to start
//     and returns it for [Options.Generation].
//
// [Generation.TrustFrom] is set when the primary served alone: the
// secondary may then hold copies the primary has since changed or deleted.
// Secondary copies last active before TrustFrom are not read through; a
// primary entry last active before TrustFrom is copied into the secondary
// on its first read, with its activity refreshed, so it is trusted from
// then on.
//
// # Observing
//
// [Options].Observer is told of every call, with Result.Fallback set
// when the secondary served it.
//
// [Store.Status] is a snapshot for health checks and metrics: engaged or
// not, the breaker's state, the generation, the mirror queue's depth, lag
// and losses, and lifetime counters. Package storage puts it in its health
// report, and ginsession/metrics exports it as gauges.
package hybrid
