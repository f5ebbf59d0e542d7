package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// fullStore has every optional capability, as redisstore.Store does.
type fullStore interface {
	store.Store
	store.GetToucher
	store.UserIndex
	store.Copier
	store.Pinger
	store.Broker
}

var _ fullStore = (*redisstore.Store)(nil)

// capsOf is the capability mask of st, in the bit order of the wrappers.
func capsOf(st store.Store) int {
	mask := 0
	if _, ok := st.(store.GetToucher); ok {
		mask |= 1 << 0
	}
	if _, ok := st.(store.UserIndex); ok {
		mask |= 1 << 1
	}
	if _, ok := st.(store.Copier); ok {
		mask |= 1 << 2
	}
	if _, ok := st.(store.Pinger); ok {
		mask |= 1 << 3
	}
	if _, ok := st.(store.Broker); ok {
		mask |= 1 << 4
	}
	return mask
}

// samples is how many observations the latency histogram holds for one
// store and op.
func samples(t *testing.T, reg *prometheus.Registry, st, op string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sessions_store_operation_duration_seconds" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			want := map[string]string{"store": st, "op": op}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestInstrumentStoreKeepsExactCapabilities wraps a real Redis store seen
// through each of the 32 combinations of optional capabilities: the wrapper
// must have exactly the view's capabilities, forward each of them to the
// real store, and measure the call under its op label.
func TestInstrumentStoreKeepsExactCapabilities(t *testing.T) {
	rs, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	missing := store.NewToken().Key()
	for mask := range len(views) {
		reg := prometheus.NewRegistry()
		m, err := New(reg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		view := views[mask](rs)
		if got := capsOf(view); got != mask {
			t.Fatalf("view %02d has capabilities %05b", mask, got)
		}
		w := m.InstrumentStore("r", view)
		if got := capsOf(w); got != mask {
			t.Errorf("wrapper of a store with capabilities %05b has %05b", mask, got)
			continue
		}
		if u, ok := w.(interface{ Unwrap() store.Store }); !ok || u.Unwrap() != view {
			t.Errorf("mask %02d: Unwrap does not return the wrapped store", mask)
		}
		if _, err := w.Get(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("mask %02d: Get of a missing key: %v", mask, err)
		}
		want := map[string]uint64{"get": 1}
		if gt, ok := w.(store.GetToucher); ok {
			_, err := gt.GetTouch(ctx, missing, time.Now(), time.Hour, time.Now())
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("mask %02d: GetTouch of a missing key: %v", mask, err)
			}
			want["get_touch"] = 1
		}
		if ui, ok := w.(store.UserIndex); ok {
			if es, err := ui.ListUser(ctx, "nobody"); err != nil || len(es) != 0 {
				t.Errorf("mask %02d: ListUser: %v, %d entries", mask, err, len(es))
			}
			want["list_user"] = 1
		}
		if p, ok := w.(store.Pinger); ok {
			if err := p.Ping(ctx); err != nil {
				t.Errorf("mask %02d: Ping: %v", mask, err)
			}
			want["ping"] = 1
		}
		if b, ok := w.(store.Broker); ok {
			if err := b.Publish(ctx, "caps", []byte("x")); err != nil {
				t.Errorf("mask %02d: Publish: %v", mask, err)
			}
			want["publish"] = 1
		}
		for _, op := range opNames {
			if got := samples(t, reg, "r", op); got != want[op] {
				t.Errorf("mask %02d: %d %s samples, want %d", mask, got, op, want[op])
			}
		}
		if n := testutil.CollectAndCount(m.storeErrors); n != 0 {
			t.Errorf("mask %02d: %d error series after calls that all succeeded or found nothing", mask, n)
		}
	}
}

// TestInstrumentStoreRealStores checks the two stores of this module as
// they are: Redis has every capability, including Broker; SQL has
// GetToucher, UserIndex, Copier and Pinger, and no Broker.
func TestInstrumentStoreRealStores(t *testing.T) {
	rs, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ds.Close() })
	m, err := New(prometheus.NewRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		st     store.Store
		broker bool
	}{
		{"redis", rs, true},
		{"database", ds, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := m.InstrumentStore(tt.name, tt.st)
			if got, want := capsOf(w), capsOf(tt.st); got != want {
				t.Fatalf("capabilities %05b, the store has %05b", got, want)
			}
			if _, ok := w.(store.GetToucher); !ok {
				t.Error("wrapped store lost store.GetToucher")
			}
			if _, ok := w.(store.Broker); ok != tt.broker {
				t.Errorf("wrapped store is a store.Broker: %v, want %v", ok, tt.broker)
			}
		})
	}
}

// BenchmarkInstrumentation is the cost the decorator adds to each
// successful operation: two clock reads and one histogram observation.
func BenchmarkInstrumentation(b *testing.B) {
	m, err := New(prometheus.NewRegistry(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ds, err := dbstore.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()
	w := m.InstrumentStore("database", ds).(*w15) // SQL: every capability but Broker
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.done(opGet, time.Now(), nil)
		}
	})
}
