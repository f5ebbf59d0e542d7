package metrics_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/store"
)

// Wire the metrics into an app: count events, measure the store, and serve
// /metrics from the app's own registry.
func Example() {
	dir, _ := os.MkdirTemp("", "metrics-example-")
	defer os.RemoveAll(dir)
	db, err := dbstore.Open(context.Background(), filepath.Join(dir, "s.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	keys, _ := store.ParseKeyring(store.GenerateKey())

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		panic(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	r.Use(ginsession.New(ginsession.Config{
		Store:   m.InstrumentStore("database", db),
		Keyring: keys,
		OnEvent: []ginsession.EventHandler{m.Handle},
	}))
	r.GET("/", func(c *gin.Context) { _ = ginsession.Current(c).Set("seen", true) })

	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "sessions_created_total") ||
			strings.HasPrefix(line, `sessions_store_operation_duration_seconds_count{op="put"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// sessions_created_total 1
	// sessions_store_operation_duration_seconds_count{op="put",store="database"} 1
}

// A store keeps its optional capabilities through the decorator, so the
// middleware still finds them.
func ExampleMetrics_InstrumentStore() {
	dir, _ := os.MkdirTemp("", "metrics-example-")
	defer os.RemoveAll(dir)
	db, err := dbstore.Open(context.Background(), filepath.Join(dir, "s.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	m, _ := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	st := m.InstrumentStore("database", db)
	_, getTouch := st.(store.GetToucher)
	_, broker := st.(store.Broker)
	fmt.Println("GetToucher:", getTouch, "Broker:", broker)
	// Output:
	// GetToucher: true Broker: false
}
