package hybrid

import "time"

// Status is a snapshot of a Store for health checks and metrics.
type Status struct {
	// Engaged: calls go to the secondary.
	Engaged bool `json:"engaged"`
	// EngagedSince is when the current outage began (zero when healthy).
	EngagedSince time.Time `json:"engaged_since,omitzero"`
	// Breaker is the circuit breaker's state: closed, open or half-open.
	Breaker string `json:"breaker"`
	// Generation names the primary namespace in use.
	Generation uint64 `json:"generation"`
	// OutageKeys is how many keys the current outage touched.
	OutageKeys int `json:"outage_keys"`
	// QueueDepth is the number of keys whose state waits to be mirrored;
	// QueuePeak its highest value since the store was built.
	QueueDepth int `json:"queue_depth"`
	QueuePeak  int `json:"queue_peak"`
	// QueueLag is the age of the oldest state waiting in the queue.
	QueueLag time.Duration `json:"queue_lag_ns"`
	// MirrorDown: the last mirror write failed; writes are queued without
	// trying the secondary until the queue has drained.
	MirrorDown bool `json:"mirror_down"`
	// Applied counts queued states copied into the secondary; Dropped
	// those the full queue refused.
	Applied uint64 `json:"applied"`
	Dropped uint64 `json:"dropped"`
	// LagP50, LagP99 and LagMax describe, over the last 4096 queued states
	// applied, the time from queueing to the secondary's acknowledgement:
	// with WriteBehind, the window in which a crash of this process loses
	// an acknowledged write.
	LagP50 time.Duration `json:"lag_p50_ns"`
	LagP99 time.Duration `json:"lag_p99_ns"`
	LagMax time.Duration `json:"lag_max_ns"`
	// Failovers counts calls the primary failed and the secondary served;
	// Engagements and Recoveries count outages begun and ended.
	Failovers   uint64 `json:"failovers"`
	Engagements uint64 `json:"engagements"`
	Recoveries  uint64 `json:"recoveries"`
	// Refills counts primary misses filled from the secondary.
	Refills uint64 `json:"refills"`
	// Divergences counts writes refused by the mirror because the
	// secondary held a copy the primary never had.
	Divergences uint64 `json:"divergences"`
	// GenerationBumps counts increments made by this store;
	// GenerationSwitches moves to a newer namespace.
	GenerationBumps    uint64 `json:"generation_bumps"`
	GenerationSwitches uint64 `json:"generation_switches"`
	// MirrorErrors counts mirror writes the secondary refused for good
	// (too large, invalid): the primary has them, the secondary does not.
	MirrorErrors uint64 `json:"mirror_errors"`
	// MirrorBatches counts write-through mirror transactions that carried
	// more than one write (group commit); MirrorBatched the writes they
	// carried.
	MirrorBatches uint64 `json:"mirror_batches"`
	MirrorBatched uint64 `json:"mirror_batched"`
}

// Status returns a snapshot of the store's state and counters.
func (h *Store) Status() Status {
	st := Status{
		Engaged:            h.engaged.Load(),
		Breaker:            h.cb.State().String(),
		Generation:         h.cur.Load().gen,
		MirrorDown:         h.mirrorDown.Load(),
		Failovers:          h.n.failovers.Load(),
		Engagements:        h.n.engagements.Load(),
		Recoveries:         h.n.recoveries.Load(),
		Refills:            h.n.refills.Load(),
		Divergences:        h.n.divergences.Load(),
		GenerationBumps:    h.n.bumps.Load(),
		GenerationSwitches: h.n.switches.Load(),
		MirrorErrors:       h.n.mirrorErrors.Load(),
		MirrorBatches:      h.n.mirrorBatches.Load(),
		MirrorBatched:      h.n.mirrorBatched.Load(),
	}
	h.omu.Lock()
	if st.Engaged {
		st.EngagedSince = h.engagedAt
	}
	st.OutageKeys = len(h.dirty)
	h.omu.Unlock()
	h.q.stats(&st)
	return st
}
