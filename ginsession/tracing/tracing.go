// Package tracing makes OpenTelemetry spans of session work: one span per
// session load and save, and a child span per store call beneath them, all
// in the trace of the request that caused them.
//
// It implements the store.Observer hook, the one the metrics package uses
// too: give [Tracer.Observer] to ginsession.Config.Observer and to the
// stores (storage.Options.Observer, or each store's Options.Observer), and
// combine it with the metrics with store.JoinObservers.
//
//	tr := tracing.New(tracing.Options{StorageMode: "hybrid"})
//	obs := store.JoinObservers(m.Observer(), tr.Observer())
//	st, err := storage.Open(ctx, cfg, storage.Options{Observer: obs})
//	mgr, err := ginsession.NewManager(ginsession.Config{Store: st.Store(), Observer: obs, ...})
//
// A store call runs with the context holding its span, so the spans of a
// go-redis client instrumented with redisotel, or of a database opened
// through otelsql, nest under it: request → session.load →
// session.store.get_touch → redis evalsha.
//
// # Attributes
//
// Spans carry what an operator needs and nothing a client could replay:
// never a token, a store key or a session value.
//
//	session.storage.mode        Options.StorageMode ("redis", "database", "hybrid")
//	session.hit                 load: the cookie named a live session
//	session.conflict_retries    save: compare-and-set conflicts retried
//	session.fallback            a hybrid store's secondary served a call of this load or save
//	session.store               store span: the store ("redis", "database", "hybrid")
//
// A failed operation sets the span's status to Error with the error's
// text; a miss (store.ErrNotFound) is not an error.
//
// The package imports only the OpenTelemetry API: the app chooses the SDK
// and exporter, and a program that does not import this package links no
// OpenTelemetry code at all.
package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vedfolnir/sessions/store"
)

// ScopeName is the instrumentation scope of the spans: the tracer's name.
const ScopeName = "github.com/vedfolnir/sessions/ginsession/tracing"

// Attribute keys of the spans.
const (
	AttrStorageMode     = attribute.Key("session.storage.mode")
	AttrHit             = attribute.Key("session.hit")
	AttrConflictRetries = attribute.Key("session.conflict_retries")
	AttrFallback        = attribute.Key("session.fallback")
	AttrStore           = attribute.Key("session.store")
)

// Options configures [New]. The zero value works.
type Options struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider(),
	// the global one (a no-op until the app installs an SDK).
	TracerProvider trace.TracerProvider
	// StorageMode is set as session.storage.mode on load and save spans.
	// Default "": the attribute is left out.
	StorageMode string
	// RootStoreSpans makes spans of store calls that have no span in their
	// context (a hybrid store's background mirroring, say), each the root
	// of a trace of its own. Default false: those calls are not traced.
	RootStoreSpans bool
}

// Tracer makes the spans. It is safe for concurrent use.
type Tracer struct {
	t    trace.Tracer
	opts Options
	obs  store.Observer
}

// New returns a Tracer.
func New(opts Options) *Tracer {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &Tracer{t: tp.Tracer(ScopeName), opts: opts}
	t.obs = t.observe
	return t
}

// Observer returns the store.Observer that makes the spans: a session
// span for store.OpLoad and store.OpSave, a store span for every other
// operation.
func (t *Tracer) Observer() store.Observer { return t.obs }

// sessionKey is the context key of the session span in progress.
type sessionKey struct{}

// sessionSpan is a load or save in progress, for its store calls to mark.
type sessionSpan struct {
	fallback bool
}

func (t *Tracer) observe(ctx context.Context, c store.Call) (context.Context, func(store.Result)) {
	if c.Op == store.OpLoad || c.Op == store.OpSave {
		return t.session(ctx, c)
	}
	if !t.opts.RootStoreSpans && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	parent, _ := ctx.Value(sessionKey{}).(*sessionSpan)
	ctx, span := t.t.Start(ctx, "session.store."+c.Op.String(),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(AttrStore.String(c.Store)))
	return ctx, func(r store.Result) {
		if r.Fallback {
			span.SetAttributes(AttrFallback.Bool(true))
			if parent != nil {
				parent.fallback = true
			}
		}
		fail(span, r.Err)
		span.End()
	}
}

func (t *Tracer) session(ctx context.Context, c store.Call) (context.Context, func(store.Result)) {
	rec := &sessionSpan{}
	ctx = context.WithValue(ctx, sessionKey{}, rec)
	var attrs []attribute.KeyValue
	if t.opts.StorageMode != "" {
		attrs = append(attrs, AttrStorageMode.String(t.opts.StorageMode))
	}
	ctx, span := t.t.Start(ctx, "session."+c.Op.String(), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	return ctx, func(r store.Result) {
		attrs := []attribute.KeyValue{AttrFallback.Bool(rec.fallback || r.Fallback)}
		if c.Op == store.OpLoad {
			attrs = append(attrs, AttrHit.Bool(r.Err == nil))
		} else {
			attrs = append(attrs, AttrConflictRetries.Int(r.Retries))
		}
		span.SetAttributes(attrs...)
		fail(span, r.Err)
		span.End()
	}
}

// fail marks span failed by err; nil and a miss are no failure.
func fail(span trace.Span, err error) {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return
	}
	span.SetStatus(codes.Error, err.Error())
}
