package hybrid

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/vedfolnir/sessions/store"
)

type opKind uint8

const (
	opPut opKind = iota + 1
	opTouch
	opDelete
)

// mirrorOp is the state of one key that the secondary still has to
// receive. Ops are immutable once queued: merging makes a new one.
type mirrorOp struct {
	kind    opKind
	e       *store.Entry // opPut
	la      time.Time    // opTouch, or opPut with touched
	idle    time.Time
	touched bool      // opPut: Touch the secondary when CopyIn is refused
	since   time.Time // when the key's pending state was first queued
}

// merge returns the state that applying old then op would leave.
func merge(old, op *mirrorOp) *mirrorOp {
	if old == nil {
		return op
	}
	switch op.kind {
	case opDelete:
		return op
	case opPut:
		if old.kind == opPut && old.e.Version > op.e.Version {
			return old
		}
		return op
	}
	// opTouch
	switch old.kind {
	case opDelete:
		return old
	case opPut:
		if !op.idle.After(old.e.IdleDeadline) && !op.la.After(old.e.LastActivity) {
			return old
		}
		n := *old
		n.e = old.e.Clone()
		n.e.LastActivity, n.e.IdleDeadline = op.la, op.idle
		n.la, n.idle, n.touched = op.la, op.idle, true
		return &n
	}
	return op
}

const lagSamples = 4096

type mirrorQueue struct {
	mu      sync.Mutex
	ops     map[string]*mirrorOp
	order   []string        // keys with a pending op not taken by a worker
	taken   map[string]bool // keys a worker is applying
	size    int
	ready   chan struct{}
	peak    int
	dropped uint64
	applied uint64
	lags    [lagSamples]time.Duration
	nLags   int
}

func (q *mirrorQueue) init(size int) {
	q.ops = map[string]*mirrorOp{}
	q.taken = map[string]bool{}
	q.size = size
	q.ready = make(chan struct{}, 1)
}

func (q *mirrorQueue) notify() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// enqueue merges op into key's pending state; false when the queue is full.
func (h *Store) enqueue(key string, op *mirrorOp) bool {
	q := &h.q
	q.mu.Lock()
	old, ok := q.ops[key]
	if !ok && len(q.ops) >= q.size {
		q.dropped++
		q.mu.Unlock()
		h.log.Warn("hybrid: mirror queue full: dropped a write the secondary will miss", "session", store.Handle(key))
		return false
	}
	m := merge(old, op)
	if m != old {
		if old != nil {
			m.since = old.since
		} else {
			m.since = time.Now()
		}
	}
	q.ops[key] = m
	if !ok && !q.taken[key] {
		q.order = append(q.order, key)
	}
	q.peak = max(q.peak, len(q.ops))
	q.mu.Unlock()
	q.notify()
	return true
}

func (q *mirrorQueue) get(key string) *mirrorOp {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ops[key]
}

// supersede drops key's pending state when a direct mirror write made it
// obsolete: a put of at most version, or a touch (version 0: any state).
func (q *mirrorQueue) supersede(key string, version uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	op, ok := q.ops[key]
	if !ok {
		return
	}
	if version == 0 || op.kind == opTouch || (op.kind == opPut && op.e.Version <= version && !op.touched) {
		delete(q.ops, key)
	}
}

// take returns the next pending key for a worker, waiting for one.
func (q *mirrorQueue) take(ctx context.Context) (string, *mirrorOp, bool) {
	for {
		q.mu.Lock()
		for len(q.order) > 0 {
			k := q.order[0]
			q.order = q.order[1:]
			if op, ok := q.ops[k]; ok && !q.taken[k] {
				q.taken[k] = true
				more := len(q.order) > 0
				q.mu.Unlock()
				if more {
					q.notify()
				}
				return k, op, true
			}
		}
		if len(q.order) == 0 {
			q.order = nil // let the backing array go
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", nil, false
		case <-q.ready:
		}
	}
}

// finish ends a worker's (or a flush's) application of op to key.
func (q *mirrorQueue) finish(key string, op *mirrorOp, ok, worker bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if worker {
		delete(q.taken, key)
	}
	cur, pending := q.ops[key]
	if ok && pending && cur == op {
		delete(q.ops, key)
		q.applied++
		q.lags[q.nLags%lagSamples] = time.Since(op.since)
		q.nLags++
		return
	}
	if worker && pending {
		q.order = append(q.order, key) // failed, or a newer state came
	}
}

func (q *mirrorQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops)
}

func (q *mirrorQueue) stats(st *Status) {
	q.mu.Lock()
	st.QueueDepth, st.QueuePeak = len(q.ops), q.peak
	st.Applied, st.Dropped = q.applied, q.dropped
	now := time.Now()
	for _, op := range q.ops {
		st.QueueLag = max(st.QueueLag, now.Sub(op.since))
	}
	n := min(q.nLags, lagSamples)
	lags := append([]time.Duration(nil), q.lags[:n]...)
	q.mu.Unlock()
	if n == 0 {
		return
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	st.LagP50 = lags[n*50/100]
	st.LagP99 = lags[min(n*99/100, n-1)]
	st.LagMax = lags[n-1]
}

// apply writes op's state for key into the secondary. Refusals that are
// not outages (too large, invalid) are counted and dropped: retrying cannot
// help.
func (h *Store) apply(ctx context.Context, key string, op *mirrorOp) error {
	var err error
	switch op.kind {
	case opPut:
		var wrote bool
		wrote, err = h.sec.c.CopyIn(ctx, op.e)
		if err == nil && !wrote && op.touched {
			err = h.sec.s.Touch(ctx, key, op.la, op.idle)
		}
	case opTouch:
		err = h.sec.s.Touch(ctx, key, op.la, op.idle)
	case opDelete:
		err = h.sec.s.Delete(ctx, key)
	}
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound):
		return nil
	case outage(err):
		return err
	}
	h.n.mirrorErrors.Add(1)
	h.log.Warn("hybrid: mirror refused a write", "session", store.Handle(key), "err", err)
	return nil
}

// flush applies key's pending state now, for a caller about to rely on
// the secondary for it.
func (h *Store) flush(ctx context.Context, key string) error {
	op := h.q.get(key)
	if op == nil {
		return nil
	}
	c, cancel := h.mirrorCtx(ctx)
	defer cancel()
	err := h.apply(c, key, op)
	h.q.finish(key, op, err == nil, false)
	return err
}

// flushAll applies every pending state it can before ctx ends and returns
// how many remain.
func (h *Store) flushAll(ctx context.Context) int {
	h.q.mu.Lock()
	keys := make([]string, 0, len(h.q.ops))
	for k := range h.q.ops {
		keys = append(keys, k)
	}
	h.q.mu.Unlock()
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		_ = h.flush(ctx, k)
	}
	return h.q.depth()
}

// mirrorWorker copies queued states into the secondary, backing off while
// it fails.
func (h *Store) mirrorWorker(ctx context.Context) {
	defer h.bg.Done()
	backoff := time.Duration(0)
	for {
		key, op, ok := h.q.take(ctx)
		if !ok {
			return
		}
		c, cancel := context.WithTimeout(ctx, h.opts.MirrorTimeout)
		err := h.apply(c, key, op)
		cancel()
		h.q.finish(key, op, err == nil, true)
		if err == nil {
			backoff = 0
			if h.q.depth() == 0 {
				h.mirrorDown.Store(false)
			}
			continue
		}
		h.mirrorDown.Store(true)
		backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		h.q.notify()
	}
}
