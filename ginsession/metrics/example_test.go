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

// Wire the metrics into an app: count events, observe the store and the
// sessions, and serve /metrics from the app's own registry.
func Example() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{Stores: []string{"database"}})
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "metrics-example-")
	defer os.RemoveAll(dir)
	db, err := dbstore.Open(context.Background(), filepath.Join(dir, "s.db"), dbstore.Options{Observer: m.Observer()})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := m.RegisterDBStats("sessions", db.DB()); err != nil {
		panic(err)
	}
	keys, _ := store.ParseKeyring(store.GenerateKey())

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	r.Use(ginsession.New(ginsession.Config{
		Store:    db,
		Keyring:  keys,
		Observer: m.Observer(),
		OnEvent:  []ginsession.EventHandler{m.Handle},
	}))
	r.GET("/", func(c *gin.Context) { _ = ginsession.Current(c).Set("seen", true) })

	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "sessions_created_total") ||
			strings.HasPrefix(line, `sessions_store_operation_duration_seconds_count{op="put"`) ||
			strings.HasPrefix(line, `sessions_store_operation_duration_seconds_count{op="save"`) ||
			strings.HasPrefix(line, `sessions_store_errors_total{kind="unavailable",op="get_touch"`) ||
			strings.HasPrefix(line, "go_sql_max_open_connections") {
			fmt.Println(line)
		}
	}
	// Output:
	// go_sql_max_open_connections{db_name="sessions"} 1
	// sessions_created_total 1
	// sessions_store_errors_total{kind="unavailable",op="get_touch",store="database"} 0
	// sessions_store_operation_duration_seconds_count{op="put",store="database"} 1
	// sessions_store_operation_duration_seconds_count{op="save",store="session"} 1
}

// Observers combine: the metrics and a tracer see the same operations.
func ExampleMetrics_Observer() {
	m, _ := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	var seen []string
	logOps := func(ctx context.Context, c store.Call) (context.Context, func(store.Result)) {
		return ctx, func(r store.Result) { seen = append(seen, r.Store+" "+r.Op.String()) }
	}
	obs := store.JoinObservers(m.Observer(), logOps)
	ctx, ob := store.Observe(context.Background(), obs, "database", store.OpGet)
	_ = ctx // the operation runs with ctx
	ob.End(store.ErrNotFound)
	fmt.Println(seen)
	// Output:
	// [database get]
}
