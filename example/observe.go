package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/ginsession/tracing"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// envTracesExporter chooses where traces go, as in the OpenTelemetry SDKs:
// "console" prints each span to standard output as JSON; "none" or unset
// traces nothing. The SDK's other variables apply: OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG).
const envTracesExporter = "OTEL_TRACES_EXPORTER"

// traceOutput is where the console exporter writes: standard output
// (tests replace it).
var traceOutput io.Writer = os.Stdout

// serviceName is the service.name of the spans unless OTEL_SERVICE_NAME
// says otherwise.
const serviceName = "sessions-example"

// setupObservers builds the observer of the session store and manager:
// the metrics, and the tracer when OTEL_TRACES_EXPORTER asks for one. It
// sets a.observer and a.tracer (nil when not tracing); the tracer provider
// is flushed at Close.
func (a *App) setupObservers() error {
	var err error
	stores := []string{string(a.cfg.Storage)}
	if storage.Mode(a.cfg.Storage) == storage.ModeHybrid {
		stores = []string{"hybrid", "redis", "database"}
	}
	if a.metrics, err = newMetrics(a.registry, stores); err != nil {
		return err
	}
	tp, err := a.tracerProvider()
	if err != nil || tp == nil {
		a.observer = a.metrics.Observer()
		return err
	}
	a.tracer = tp
	tr := tracing.New(tracing.Options{TracerProvider: tp, StorageMode: string(a.cfg.Storage)})
	a.observer = store.JoinObservers(a.metrics.Observer(), tr.Observer())
	return nil
}

// tracerProvider returns the SDK tracer provider OTEL_TRACES_EXPORTER asks
// for, or nil.
func (a *App) tracerProvider() (*sdktrace.TracerProvider, error) {
	v, _ := a.cfg.lookup(envTracesExporter)
	switch strings.TrimSpace(strings.ToLower(v)) {
	case "", "none":
		return nil, nil
	case "console":
	default:
		return nil, fmt.Errorf("%s=%q: the example supports console and none", envTracesExporter, v)
	}
	exp, err := stdouttrace.New(stdouttrace.WithWriter(traceOutput), stdouttrace.WithPrettyPrint())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envTracesExporter, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName)))
	if err == nil {
		res, err = resource.Merge(res, resource.Environment()) // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	}
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	// Synchronous export: a span is printed as it ends, in order.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tp.Shutdown(ctx)
	})
	return tp, nil
}

// requestSpans returns the middleware that starts a span per request,
// none when not tracing.
func (a *App) requestSpans() []gin.HandlerFunc {
	if a.tracer == nil {
		return nil
	}
	return []gin.HandlerFunc{otelgin.Middleware(serviceName, otelgin.WithTracerProvider(a.tracer))}
}

// newMetrics creates the session metrics, their series for stores present
// from the start.
func newMetrics(reg prometheus.Registerer, stores []string) (*metrics.Metrics, error) {
	return metrics.New(reg, metrics.Options{Stores: stores})
}

// registerPools exports the connection pools of the Redis client and the
// SQL database.
func (a *App) registerPools() error {
	if a.redis != nil {
		if err := a.metrics.RegisterRedisPool("sessions", a.redis); err != nil {
			return err
		}
	}
	if a.sqlDB != nil {
		return a.metrics.RegisterDBStats("sessions", a.sqlDB)
	}
	return nil
}
