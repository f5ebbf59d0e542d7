package metrics_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/store"
)

func init() { gin.SetMode(gin.TestMode) }

// TestScrapeAfterRealRequests runs the middleware on an instrumented SQLite
// store behind a real HTTP server, drives a session through its life, and
// scrapes /metrics over HTTP as Prometheus would.
func TestScrapeAfterRealRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ginsession.NewManager(ginsession.Config{
		Store:    sqliteStore(t, m.Observer()),
		Observer: m.Observer(),
		Keyring:  kr,
		Cookie:   ginsession.CookieOptions{Insecure: true}, // plain-HTTP test server
		OnEvent:  []ginsession.EventHandler{m.Handle},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	api := r.Group("/", mgr.Middleware())
	api.POST("/set", func(c *gin.Context) {
		if err := ginsession.Current(c).Set("k", "v"); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "ok")
	})
	api.GET("/get", func(c *gin.Context) {
		c.String(200, ginsession.GetOr(ginsession.Current(c), "k", "none"))
	})
	api.POST("/login", func(c *gin.Context) {
		if err := ginsession.Current(c).Login(ginsession.User{ID: "7"}); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "in")
	})
	api.POST("/logout", func(c *gin.Context) {
		if err := ginsession.Current(c).Logout(); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "out")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	do := func(method, path, cookie, want string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		client := hc
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
			client = http.DefaultClient
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("%s %s: %d %q, want 200 %q", method, path, resp.StatusCode, body, want)
		}
	}
	do("POST", "/set", "", "ok")                      // create: put
	do("GET", "/get", "", "v")                        // load: get_touch
	do("POST", "/login", "", "in")                    // load, then rotation: get_touch, put (tombstone the old entry), put (the new one)
	do("POST", "/logout", "", "out")                  // load, put (tombstone): sessions end by compare-and-set, never a plain delete
	do("GET", "/get", mgr.CookieName()+"=%%", "none") // malformed cookie: no store call

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	value := func(name string, labels ...string) float64 {
		t.Helper()
		mf, ok := fams[name]
		if !ok {
			t.Fatalf("no %s in the scrape", name)
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return m.GetCounter().GetValue()
			}
		}
		return 0
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sessions_created_total", nil, 1},
		{"sessions_rotated_total", nil, 1},
		{"sessions_logins_total", nil, 1},
		{"sessions_destroyed_total", []string{"reason", "logout"}, 1},
		{"sessions_destroyed_total", []string{"reason", "expired"}, 0},
		{"sessions_rejected_total", []string{"reason", "malformed"}, 1},
		{"sessions_rejected_total", []string{"reason", "unknown"}, 0},
		{"sessions_store_operation_duration_seconds", []string{"store", "database", "op", "put"}, 4},
		{"sessions_store_operation_duration_seconds", []string{"store", "database", "op", "get_touch"}, 3},
		{"sessions_store_operation_duration_seconds", []string{"store", "database", "op", "delete"}, 0},
		// The manager found the store's GetToucher, so it never fell back
		// to a plain get.
		{"sessions_store_operation_duration_seconds", []string{"store", "database", "op", "get"}, 0},
		// ginsession's own observations: the loads that read the store, the
		// saves that wrote it.
		{"sessions_store_operation_duration_seconds", []string{"store", "session", "op", "load"}, 3},
		{"sessions_store_operation_duration_seconds", []string{"store", "session", "op", "save"}, 2},
		{"sessions_store_conflicts_total", []string{"store", "session", "op", "save"}, 0},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The error series exist from the start, at zero, for alerts to use.
	errs := fams["sessions_store_errors_total"]
	if n := len(errs.GetMetric()); n == 0 {
		t.Error("no sessions_store_errors_total series")
	}
	for _, m := range errs.GetMetric() {
		if v := m.GetCounter().GetValue(); v != 0 {
			t.Errorf("store error after a clean run: %v = %v", m.GetLabel(), v)
		}
	}
	if t.Failed() {
		var sb strings.Builder
		for _, mf := range fams {
			_, _ = expfmt.MetricFamilyToText(&sb, mf)
		}
		t.Log(sb.String())
	}
}

// hasLabels reports whether m carries every name/value pair of kv.
func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
