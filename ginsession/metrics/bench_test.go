package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/store"
)

// BenchmarkStoreGet compares Get of a live entry on SQLite with and without
// the instrumentation: the difference is its cost per operation.
func BenchmarkStoreGet(b *testing.B) {
	ctx := context.Background()
	st := sqliteStore(b)
	now := time.Now()
	e := &store.Entry{Key: store.NewToken().Key(), Version: 1, Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(time.Hour), Payload: make([]byte, 200)}
	e.Normalize()
	if err := st.Put(ctx, e, 0); err != nil {
		b.Fatal(err)
	}
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		st   store.Store
	}{
		{"bare", st},
		{"instrumented", m.InstrumentStore("database", st)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.st.Get(ctx, e.Key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandle is the cost of counting one event.
func BenchmarkHandle(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Handle(ginsession.Event{Kind: ginsession.EventRejected, Detail: ginsession.RejectUnknown})
		}
	})
}
