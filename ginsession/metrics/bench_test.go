package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/store"
)

// BenchmarkStoreGet compares Get of a live entry on SQLite with and without
// the metrics observer: the difference is its cost per operation.
func BenchmarkStoreGet(b *testing.B) {
	ctx := context.Background()
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  store.Observer
	}{
		{"bare", nil},
		{"observed", m.Observer()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := sqliteStore(b, bc.obs)
			now := time.Now()
			e := &store.Entry{Key: store.NewToken().Key(), Version: 1, Created: now, LastActivity: now,
				IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(time.Hour), Payload: make([]byte, 200)}
			e.Normalize()
			if err := st.Put(ctx, e, 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Get(ctx, e.Key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObserve is the metrics observer alone: one observation.
func BenchmarkObserve(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	obs := m.Observer()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, ob := store.Observe(ctx, obs, "database", store.OpGetTouch)
		ob.End(nil)
	}
}

// BenchmarkReadRequest is one request that reads a stored session through
// the middleware on SQLite, with and without the metrics observer on the
// manager and the store: the read path's cost of the hook.
func BenchmarkReadRequest(b *testing.B) {
	for _, measured := range []bool{false, true} {
		name := "bare"
		if measured {
			name = "measured"
		}
		b.Run(name, func(b *testing.B) {
			kr, _ := store.ParseKeyring(store.GenerateKey())
			cfg := ginsession.Config{Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true}}
			if measured {
				m, _ := metrics.New(prometheus.NewRegistry(), metrics.Options{})
				cfg.Observer = m.Observer()
			}
			cfg.Store = sqliteStore(b, cfg.Observer)
			mgr, err := ginsession.NewManager(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := gin.New()
			r.Use(mgr.Middleware())
			r.POST("/set", func(c *gin.Context) { _ = ginsession.Current(c).Set("k", "v") })
			r.GET("/get", func(c *gin.Context) { c.String(200, ginsession.GetOr(ginsession.Current(c), "k", "")) })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("POST", "/set", nil))
			req := httptest.NewRequest("GET", "/get", nil)
			req.AddCookie(w.Result().Cookies()[0])
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.String() != "v" {
					b.Fatal(w.Code, w.Body.String())
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
