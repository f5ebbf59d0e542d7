package tracing_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/tracing"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

// clientSpans is a go-redis hook that makes a span per command from the
// command's context, as redisotel does: it shows where a traced client's
// spans land.
type clientSpans struct{ t trace.Tracer }

func (h clientSpans) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h clientSpans) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, span := h.t.Start(ctx, "redis "+cmd.Name(), trace.WithSpanKind(trace.SpanKindClient))
		defer span.End()
		return next(ctx, cmd)
	}
}
func (h clientSpans) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, span := h.t.Start(ctx, "redis pipeline", trace.WithSpanKind(trace.SpanKindClient))
		defer span.End()
		return next(ctx, cmds)
	}
}

// rig is an app traced end to end: otelgin's request span, the session
// spans, the store spans and the Redis client's own.
type rig struct {
	sr      *tracetest.SpanRecorder
	handler http.Handler
}

func newRig(t *testing.T, backend string) *rig {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tracing.New(tracing.Options{TracerProvider: tp, StorageMode: backend})
	var st store.Store
	switch backend {
	case "redis":
		client := testserver.RedisClient(t)
		client.AddHook(clientSpans{tp.Tracer("redis")})
		rs, err := redisstore.New(client, redisstore.Options{Prefix: testserver.Prefix(t), Observer: tr.Observer()})
		if err != nil {
			t.Fatal(err)
		}
		st = rs
	case "database":
		db, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true, Observer: tr.Observer()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		st = db
	}
	kr, _ := store.ParseKeyring(store.GenerateKey())
	mgr, err := ginsession.NewManager(ginsession.Config{Store: st, Keyring: kr, Observer: tr.Observer(), Cookie: ginsession.CookieOptions{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(otelgin.Middleware("app", otelgin.WithTracerProvider(tp)), mgr.Middleware())
	r.POST("/login", func(c *gin.Context) {
		s := ginsession.Current(c)
		if err := s.Login(ginsession.User{ID: "u-42"}); err != nil {
			c.String(500, err.Error())
			return
		}
		_ = s.Set("secret", "value-never-in-a-span")
		c.String(200, "in")
	})
	r.POST("/set", func(c *gin.Context) { _ = ginsession.Current(c).Set("k", "value-never-in-a-span") })
	r.GET("/get", func(c *gin.Context) { c.String(200, ginsession.GetOr(ginsession.Current(c), "k", "none")) })
	return &rig{sr: sr, handler: r}
}

// do serves one request and returns its response and the spans it made.
func (g *rig) do(t *testing.T, method, path string, cookies []*http.Cookie) (*httptest.ResponseRecorder, []sdktrace.ReadOnlySpan) {
	t.Helper()
	before := len(g.sr.Ended())
	req := httptest.NewRequest(method, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	g.handler.ServeHTTP(w, req)
	return w, g.sr.Ended()[before:]
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// checkTree fails unless spans form one tree under the request span, and
// returns the spans by name.
func checkTree(t *testing.T, spans []sdktrace.ReadOnlySpan) map[string][]sdktrace.ReadOnlySpan {
	t.Helper()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		byName[s.Name()] = append(byName[s.Name()], s)
		if !s.Parent().IsValid() {
			if root != nil {
				t.Errorf("two root spans: %s and %s", root.Name(), s.Name())
			}
			root = s
		}
	}
	if root == nil || root.SpanKind() != trace.SpanKindServer {
		t.Fatalf("no request span at the root of %d spans", len(spans))
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s is in another trace", s.Name())
		}
		for p := s; p.Parent().IsValid(); {
			next, ok := byID[p.Parent().SpanID()]
			if !ok {
				t.Errorf("%s: parent of %s is not a span of this request", s.Name(), p.Name())
				break
			}
			p = next
		}
	}
	return byName
}

// under reports whether the span named name is an ancestor of s.
func under(spans []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan, name string) bool {
	for p := s; p.Parent().IsValid(); {
		found := false
		for _, q := range spans {
			if q.SpanContext().SpanID() == p.Parent().SpanID() {
				p, found = q, true
				break
			}
		}
		if !found {
			return false
		}
		if p.Name() == name {
			return true
		}
	}
	return false
}

// redisUnder fails unless spans hold a Redis client span, and every one
// is beneath the store span named store.
func redisUnder(t *testing.T, spans []sdktrace.ReadOnlySpan, store string) {
	t.Helper()
	n := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "redis ") {
			n++
			if !under(spans, s, store) {
				t.Errorf("%s is not beneath %s", s.Name(), store)
			}
		}
	}
	if n == 0 {
		t.Errorf("spans %v: no span of the Redis client", names(spans))
	}
}

// parentName is the name of s's parent among spans.
func parentName(spans []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) string {
	for _, p := range spans {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p.Name()
		}
	}
	return ""
}

// TestOneTreePerRequest logs in, reads the session and misses, on Redis and
// on SQLite, and checks each request's spans form one tree under its
// request span, with the attributes of the package doc and no secret.
func TestOneTreePerRequest(t *testing.T) {
	for _, backend := range []string{"redis", "database"} {
		t.Run(backend, func(t *testing.T) {
			g := newRig(t, backend)

			// Login on a new session: a save (the create), with its store put.
			w, spans := g.do(t, "POST", "/login", nil)
			if w.Code != 200 {
				t.Fatalf("login: %d %s", w.Code, w.Body)
			}
			byName := checkTree(t, spans)
			save := byName["session.save"]
			if len(save) != 1 || len(byName["session.store.put"]) == 0 {
				t.Fatalf("login spans %v: want one session.save with a session.store.put", names(spans))
			}
			if p := parentName(spans, byName["session.store.put"][0]); p != "session.save" {
				t.Errorf("session.store.put's parent is %q, want session.save", p)
			}
			if v, ok := attr(save[0], tracing.AttrConflictRetries); !ok || v.AsInt64() != 0 {
				t.Errorf("session.save: conflict_retries %v %v, want 0", v, ok)
			}
			if v, _ := attr(save[0], tracing.AttrStorageMode); v.AsString() != backend {
				t.Errorf("session.save: storage mode %q, want %q", v.AsString(), backend)
			}
			if v, ok := attr(save[0], tracing.AttrFallback); !ok || v.AsBool() {
				t.Errorf("session.save: fallback %v %v, want false", v, ok)
			}
			if backend == "redis" {
				redisUnder(t, spans, "session.store.put")
			}
			cookies := w.Result().Cookies()

			// Read: a load that hits, its store read beneath it, and the
			// client's command beneath that.
			_, spans = g.do(t, "GET", "/get", cookies)
			byName = checkTree(t, spans)
			load := byName["session.load"]
			if len(load) != 1 || len(byName["session.store.get_touch"]) != 1 {
				t.Fatalf("read spans %v: want one session.load with a session.store.get_touch", names(spans))
			}
			if v, ok := attr(load[0], tracing.AttrHit); !ok || !v.AsBool() {
				t.Errorf("session.load: hit %v %v, want true", v, ok)
			}
			gt := byName["session.store.get_touch"][0]
			if p := parentName(spans, gt); p != "session.load" {
				t.Errorf("get_touch's parent is %q, want session.load", p)
			}
			if v, _ := attr(gt, tracing.AttrStore); v.AsString() != backend {
				t.Errorf("get_touch: store %q, want %q", v.AsString(), backend)
			}
			if backend == "redis" {
				redisUnder(t, spans, "session.store.get_touch")
			}

			// A cookie naming no session: a load that misses, not an error.
			gone := []*http.Cookie{{Name: cookies[0].Name, Value: store.NewToken().String()}}
			_, spans = g.do(t, "GET", "/get", gone)
			byName = checkTree(t, spans)
			if load := byName["session.load"]; len(load) != 1 {
				t.Fatalf("miss spans %v", names(spans))
			} else if v, _ := attr(load[0], tracing.AttrHit); v.AsBool() || load[0].Status().Code == codes.Error {
				t.Errorf("miss: hit %v status %v, want false and no error", v.AsBool(), load[0].Status())
			}

			// No span anywhere carries the token or a value.
			for _, s := range g.sr.Ended() {
				for _, kv := range s.Attributes() {
					v := kv.Value.String()
					for _, c := range cookies {
						if strings.Contains(v, c.Value) {
							t.Errorf("%s: attribute %s carries the token", s.Name(), kv.Key)
						}
					}
					if strings.Contains(v, "value-never-in-a-span") || strings.Contains(v, "u-42") {
						t.Errorf("%s: attribute %s carries a session value", s.Name(), kv.Key)
					}
				}
			}
		})
	}
}

// TestStoreFailureAndBackground: a store outage marks the load and store
// spans as errors; store calls outside any span make no trace unless
// RootStoreSpans is set.
func TestStoreFailureAndBackground(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	// A Redis that does not answer: a listener that accepts and says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), DialTimeout: 100e6, ReadTimeout: 100e6, MaxRetries: -1})
	defer client.Close()
	for _, root := range []bool{false, true} {
		tr := tracing.New(tracing.Options{TracerProvider: tp, RootStoreSpans: root})
		rs, err := redisstore.New(client, redisstore.Options{Observer: tr.Observer()})
		if err != nil {
			t.Fatal(err)
		}
		before := len(sr.Ended())
		_, err = rs.Get(context.Background(), store.NewToken().Key())
		if err == nil {
			t.Fatal("Get on a silent Redis succeeded")
		}
		made := sr.Ended()[before:]
		switch {
		case !root && len(made) != 0:
			t.Errorf("background call made spans %v", names(made))
		case root && (len(made) != 1 || made[0].Status().Code != codes.Error):
			t.Errorf("RootStoreSpans: spans %v, want one failed session.store.get", names(made))
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
