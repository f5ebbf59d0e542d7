package hybrid

import (
	"context"
	"runtime"
	"sync"

	"github.com/vedfolnir/sessions/store"
)

// Group commit of mirror writes.
//
// A write-through mirror write is one SQL transaction, and on SQLite
// transactions run one at a time: under concurrent writes each request
// queued for its own commit. When the secondary is a [store.BatchCopier],
// the first mirror write becomes the committer and the writes that arrive
// while it commits queue behind it; the next committer copies them all in
// one transaction. Each request still waits for the commit that carried
// its entry and gets that entry's own result, so a write is acknowledged
// only once it is in the secondary: write-through keeps its guarantee, at
// one transaction per batch instead of one per request.

// maxCopyBatch bounds the entries of one mirror transaction.
const maxCopyBatch = 256

// copyBatcher group-commits CopyIn calls into the secondary.
type copyBatcher struct {
	bc    store.BatchCopier // nil: one CopyIn per write
	mu    sync.Mutex
	busy  bool // a committer is running
	queue []*copyReq
}

// copyReq is one mirror write waiting for a commit.
type copyReq struct {
	e     *store.Entry
	wrote bool
	err   error
	lead  bool       // woken as the next committer of batch
	batch []*copyReq // lead: the writes to commit (itself first)
	done  chan struct{}
}

// copyIn copies e into the secondary, batched with concurrent writes.
func (h *Store) copyIn(ctx context.Context, e *store.Entry) (bool, error) {
	b := &h.mb
	if b.bc == nil {
		return h.sec.c.CopyIn(ctx, e)
	}
	r := &copyReq{e: e}
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		// Let the goroutines that are ready run up to their own mirror
		// write first, and take them along. On one P nothing else runs
		// while a transaction does, so without this yield no write
		// would ever wait behind another and every write paid a
		// transaction of its own; on several it costs a scheduler pass.
		runtime.Gosched()
		batch := []*copyReq{r}
		b.mu.Lock()
		if n := min(len(b.queue), maxCopyBatch-1); n > 0 {
			batch = append(batch, b.queue[:n]...)
			b.queue = append([]*copyReq(nil), b.queue[n:]...)
		}
		b.mu.Unlock()
		h.commitCopies(ctx, batch)
		return r.wrote, r.err
	}
	r.done = make(chan struct{})
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	<-r.done // bounded: every commit runs under a MirrorTimeout context
	if r.lead {
		h.commitCopies(ctx, r.batch)
	}
	return r.wrote, r.err
}

// commitCopies copies batch in one transaction, tells each write its
// result, and hands the queue to the next committer.
func (h *Store) commitCopies(ctx context.Context, batch []*copyReq) {
	b := &h.mb
	es := make([]*store.Entry, len(batch))
	for i, r := range batch {
		es[i] = r.e
	}
	res, err := b.bc.CopyInBatch(ctx, es)
	if len(batch) > 1 {
		h.n.mirrorBatches.Add(1)
		h.n.mirrorBatched.Add(uint64(len(batch)))
	}
	b.mu.Lock()
	next := b.queue
	if len(next) > maxCopyBatch {
		b.queue = append([]*copyReq(nil), next[maxCopyBatch:]...)
		next = next[:maxCopyBatch]
	} else {
		b.queue = nil
	}
	if len(next) == 0 {
		b.busy = false
	}
	b.mu.Unlock()
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.wrote, r.err = res[i].Wrote, res[i].Err
		}
		if i > 0 {
			close(r.done)
		}
	}
	if len(next) > 0 {
		next[0].lead, next[0].batch = true, next
		close(next[0].done)
	}
}
