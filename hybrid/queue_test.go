package hybrid

import (
	"context"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

func putOp(v uint64, idle time.Time) *mirrorOp {
	return &mirrorOp{kind: opPut, e: &store.Entry{Key: store.NewToken().Key(), Version: v, IdleDeadline: idle, LastActivity: idle.Add(-time.Hour)}}
}

// merge keeps the state that applying both ops in order would leave.
func TestMirrorMerge(t *testing.T) {
	t0 := time.Now()
	del := &mirrorOp{kind: opDelete}
	p3, p5 := putOp(3, t0), putOp(5, t0)
	touch := &mirrorOp{kind: opTouch, la: t0.Add(time.Minute), idle: t0.Add(2 * time.Hour)}
	oldTouch := &mirrorOp{kind: opTouch, la: t0.Add(-2 * time.Hour), idle: t0.Add(-time.Hour)}

	if merge(nil, p3) != p3 || merge(p5, del) != del || merge(p3, p5) != p5 {
		t.Error("a newer put or a delete replaces the pending state")
	}
	if merge(p5, p3) != p5 {
		t.Error("an older put must not replace a newer pending one")
	}
	if merge(del, touch) != del {
		t.Error("a touch after a delete leaves the delete")
	}
	if merge(touch, oldTouch) != oldTouch || merge(oldTouch, touch) != touch {
		t.Error("a touch over a touch: the latest call wins")
	}
	m := merge(p5, touch)
	if m.kind != opPut || m.e.Version != 5 || !m.touched || !m.e.IdleDeadline.Equal(touch.idle) || !m.e.LastActivity.Equal(touch.la) {
		t.Errorf("a touch over a put: got %+v, want the put carrying the touch", m)
	}
	if p5.e.IdleDeadline != t0 || p5.touched {
		t.Error("merge changed a queued op in place")
	}
	if merge(p5, oldTouch) != p5 {
		t.Error("an older touch must not move a pending put's times back")
	}
}

// The queue coalesces per key, is bounded, and a worker's finish keeps a
// state that arrived while it was applying the previous one.
func TestMirrorQueue(t *testing.T) {
	h := &Store{opts: Options{}.withDefaults()}
	h.log = h.opts.Logger
	h.q.init(2)
	a, b, c := store.NewToken().Key(), store.NewToken().Key(), store.NewToken().Key()
	t0 := time.Now()
	if !h.enqueue(a, putOp(1, t0)) || !h.enqueue(a, putOp(2, t0)) || !h.enqueue(b, &mirrorOp{kind: opDelete}) {
		t.Fatal("enqueue refused within the bound")
	}
	if h.enqueue(c, putOp(1, t0)) {
		t.Fatal("enqueue of a third key into a queue of 2 accepted")
	}
	var st Status
	h.q.stats(&st)
	if st.QueueDepth != 2 || st.QueuePeak != 2 || st.Dropped != 1 {
		t.Fatalf("depth %d peak %d dropped %d, want 2 2 1", st.QueueDepth, st.QueuePeak, st.Dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	k, op, ok := h.q.take(ctx)
	if !ok || k != a || op.e.Version != 2 {
		t.Fatalf("take: %v %v %v, want key a at version 2 (coalesced, FIFO)", k == a, op, ok)
	}
	h.enqueue(a, putOp(3, t0)) // arrives while a worker applies version 2
	h.q.finish(a, op, true, true)
	if got := h.q.get(a); got == nil || got.e.Version != 3 {
		t.Fatalf("state after finish: %+v, want version 3 still pending", got)
	}
	k2, _, _ := h.q.take(ctx)
	k3, op3, _ := h.q.take(ctx)
	if k2 != b || k3 != a || op3.e.Version != 3 {
		t.Fatalf("order after requeue: %v %v, want b then a", k2 == b, k3 == a)
	}
	h.q.finish(a, op3, true, true)
	h.q.stats(&st)
	if st.Applied != 1 || st.LagMax <= 0 || h.q.get(a) != nil {
		t.Errorf("applied %d lag %v, want 1 applied with a lag and a's state gone", st.Applied, st.LagMax)
	}
	h.enqueue(a, putOp(4, t0))
	h.q.supersede(a, 3)
	if h.q.get(a) == nil {
		t.Error("a direct mirror write of version 3 dropped a queued version 4")
	}
	h.q.supersede(a, 4)
	if h.q.get(a) != nil {
		t.Error("a direct mirror write of version 4 leaves version 4 queued")
	}
}
