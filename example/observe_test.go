package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLint: the app's metrics, gathered from its registry after a
// login, pass promlint, and the series alerts rely on exist before any
// failure: store errors at zero, fallback served, pool gauges.
func TestMetricsLint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.client(t, "").login("alice")
		problems, err := testutil.GatherAndLint(e.app.registry)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
		r := e.client(t, "").get("/metrics")
		body := string(r.body)
		want := []string{
			`sessions_store_errors_total{kind="unavailable",op="load",store="session"} 0`,
			`sessions_store_conflicts_total{op="save",store="session"} 0`,
			`go_sql_open_connections{db_name="sessions"}`,
		}
		if e.app.cfg.Storage == modeHybrid {
			want = append(want,
				`sessions_store_errors_total{kind="unavailable",op="get_touch",store="redis"} 0`,
				`sessions_store_fallback_served_total{op="get_touch",store="hybrid"} 0`,
				`sessions_redis_pool_connections{pool="sessions"}`,
				`sessions_hybrid_engaged 0`)
		} else {
			want = append(want, `sessions_store_errors_total{kind="unavailable",op="get_touch",store="database"} 0`)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("/metrics has no %s", w)
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the exporter and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestTracesExporter: OTEL_TRACES_EXPORTER chooses the console exporter,
// nothing, or is refused; with console, a login prints one trace whose
// session spans hang under the request span.
func TestTracesExporter(t *testing.T) {
	tests := []struct {
		value   string
		tracing bool
		wantErr string
	}{
		{"", false, ""},
		{"none", false, ""},
		{" Console ", true, ""},
		{"otlp", false, "supports console and none"},
		{"bogus", false, "supports console and none"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var out syncBuffer
			traceOutput = &out
			t.Cleanup(func() { traceOutput = nil })
			vars := map[string]string{envDataDir: t.TempDir(), envAddr: "127.0.0.1:0", envTracesExporter: tt.value}
			if tt.wantErr != "" {
				cfg, err := configFromLookup(mapLookup(vars), quietLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if a, err := newApp(ctx, cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					if a != nil {
						_ = a.Close()
					}
					t.Fatalf("newApp: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			e := startApp(t, vars)
			if (e.app.tracer != nil) != tt.tracing {
				t.Fatalf("tracer %v, want tracing %v", e.app.tracer, tt.tracing)
			}
			e.client(t, "").login("alice")
			spans := decodeSpans(t, out.String())
			if !tt.tracing {
				if len(spans) != 0 {
					t.Errorf("%d spans printed without tracing", len(spans))
				}
				return
			}
			var login *span
			for i := range spans {
				if spans[i].Name == "POST /api/login" {
					login = &spans[i]
				}
			}
			if login == nil {
				t.Fatalf("no login request span among %d", len(spans))
			}
			var load bool
			for _, s := range spans {
				if s.SpanContext.TraceID == login.SpanContext.TraceID && s.Name == "session.load" && s.Parent.SpanID == login.SpanContext.SpanID {
					load = true
				}
			}
			if !load {
				t.Errorf("no session.load under the login request span: %+v", spans)
			}
		})
	}
}

// span is the part of a console exporter span the test reads.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ SpanID string }
}

func decodeSpans(t *testing.T, s string) []span {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var out []span
	for {
		var sp span
		if err := dec.Decode(&sp); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("console output does not decode: %v", err)
		}
		out = append(out, sp)
	}
}
