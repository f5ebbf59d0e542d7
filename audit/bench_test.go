package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/ginsession"
)

// BenchmarkWriter measures how many events per second the writer stores
// with the default batching, on SQLite and PostgreSQL. The producer waits
// whenever the queue is nearly full, so nothing is dropped and the figure
// is the database's pace; Handle's own cost is in BenchmarkHandle.
func BenchmarkWriter(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			w := newWriter(b, be.open(b), audit.Options{})
			ev := ginsession.Event{Kind: ginsession.EventLogin, Session: "AAAAAAAAAAAAAAAAAAAAAA", UserID: "42",
				IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench", Detail: "detail"}
			t0 := time.Now()
			for b.Loop() {
				for w.Pending() > audit.DefaultQueueSize-audit.DefaultBatchSize {
					time.Sleep(time.Millisecond)
				}
				w.Handle(ev)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := w.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if w.Dropped() != 0 {
				b.Fatalf("dropped %d", w.Dropped())
			}
			b.ReportMetric(float64(w.Written())/time.Since(t0).Seconds(), "events/s")
		})
	}
}

// BenchmarkHandle is the cost a request pays per event.
func BenchmarkHandle(b *testing.B) {
	w := newWriter(b, openSQLite(b), audit.Options{QueueSize: 1 << 20})
	ev := ginsession.Event{Kind: ginsession.EventLogin, UserID: "42"}
	b.ReportAllocs()
	for b.Loop() {
		w.Handle(ev)
	}
}
