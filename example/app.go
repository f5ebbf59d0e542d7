package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/health"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/internal/redact"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// App is the reference application: its router, session manager and the
// stores behind them. Build it with newApp, serve App.Handler, call
// App.Shutdown when the server stops, and Close it.
type App struct {
	cfg      appConfig
	log      *slog.Logger
	sessions *ginsession.Manager
	handler  http.Handler   // the public listener's
	admin    http.Handler   // the operator listener's: /healthz, /metrics
	closers  []func() error // run in reverse order by Close

	store    store.Store           // the session store, as the manager sees it
	sqlDB    *sql.DB               // the SQL database: audit trail, and sessions in database and hybrid modes
	redis    redis.UniversalClient // nil unless Redis is configured
	broker   store.Broker          // carries the cross-tab stream
	audit    *audit.Writer
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	observer store.Observer           // metrics, and tracing when on: see observe.go
	tracer   *sdktrace.TracerProvider // nil unless OTEL_TRACES_EXPORTER is set
	pub      *live.Publisher
	storage  *storage.Storage // the session storage: store, health report, hybrid status

	manager    atomic.Pointer[ginsession.Manager] // a.sessions, for the hybrid store's goroutine
	streams    context.Context                    // ended by Shutdown: closes the event streams
	endStreams context.CancelFunc

	// StorageDesc says which storage serves sessions, for the start log.
	StorageDesc string
	// KeyFileCreated: no key was configured and a new key file was written.
	KeyFileCreated bool
	// Warnings are degraded states found at start, for the start log.
	Warnings []string
}

// newApp builds the app from cfg: it opens (and migrates) the storage,
// loads or creates the encryption key, and wires the routes. It starts no
// listener.
func newApp(ctx context.Context, cfg appConfig) (*App, error) {
	a := &App{cfg: cfg, log: cfg.Logger}
	a.streams, a.endStreams = context.WithCancel(context.Background())
	if err := a.build(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// build does newApp's work; on error, newApp closes what it opened.
func (a *App) build(ctx context.Context) (err error) {
	cfg := a.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	sc := cfg.Session
	if sc.Keyring == nil {
		kr, created, err := loadOrCreateKey(cfg.keyFile())
		if err != nil {
			return err
		}
		sc.Keyring, a.KeyFileCreated = kr, created
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.setupObservers(); err != nil {
		return err
	}
	if err := a.openStorage(ctx); err != nil {
		return err
	}
	if err := a.registerPools(); err != nil {
		return err
	}

	// A short flush interval keeps the dashboard's history current: its
	// script refetches 300 ms after each event.
	a.audit, err = audit.New(ctx, a.sqlDB, audit.Options{Logger: a.log, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return a.audit.Close(cctx)
	})

	if err := a.metrics.RegisterAuditDrops(a.audit.Dropped); err != nil {
		return err
	}
	if hy := a.storage.Hybrid(); hy != nil {
		if err := a.metrics.RegisterHybrid(hy.Status); err != nil {
			return err
		}
	}

	a.pub = live.NewPublisher(a.broker, live.PublisherOptions{Logger: a.log})
	a.closers = append(a.closers, func() error { a.pub.Close(); return nil })

	sc.Store, sc.Observer = a.store, a.observer
	sc.OnEvent = append(sc.OnEvent, a.audit.Handle, a.metrics.Handle, a.pub.Handle)
	m, err := ginsession.NewManager(sc)
	if err != nil {
		return err
	}
	a.sessions = m
	a.manager.Store(m)

	a.handler, err = a.routes()
	if err != nil {
		return err
	}
	a.admin = a.adminRoutes()
	return nil
}

// redactURL masks a URL's secrets (password, password-like query keys)
// for logs and pages.
func redactURL(u string) string { return redact.URL(u) }

// managerLoaded returns the session manager once it exists (nil before).
func (a *App) managerLoaded() *ginsession.Manager { return a.manager.Load() }

// Handler returns the app's HTTP handler, for the public listener.
func (a *App) Handler() http.Handler { return a.handler }

// AdminHandler returns the operator endpoints' handler (/healthz,
// /metrics), for a listener only operators reach (EXAMPLE_ADMIN_ADDR,
// loopback by default).
func (a *App) AdminHandler() http.Handler { return a.admin }

// adminRoutes builds the operator listener's engine.
func (a *App) adminRoutes() http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", health.Handler(a.storage, health.Options{}))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})))
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not found"})
	})
	return r
}

// Shutdown ends the event streams, so an http.Server's graceful Shutdown
// does not wait for them. Register it with Server.RegisterOnShutdown.
func (a *App) Shutdown() { a.endStreams() }

// Close flushes the audit trail and releases the stores. It is safe to
// call more than once.
func (a *App) Close() error {
	a.endStreams()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// routes builds the gin engine.
func (a *App) routes() (http.Handler, error) {
	r := gin.New()
	r.Use(gin.Recovery())
	r.Use(a.requestSpans()...)
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, err
	}
	r.GET("/live.js", live.ScriptHandler())
	if err := a.staticRoutes(r); err != nil {
		return nil, err
	}

	r.Use(a.sessions.Middleware())
	r.Use(platform.Middleware(loadPlatform))

	csrf, err := ginsession.RequireCSRF(ginsession.CSRFOptions{DisableFormField: true})
	if err != nil {
		return nil, err
	}
	api := r.Group("/api", noStore, csrf)
	api.GET("/session", a.getSession)
	api.POST("/login", a.login)
	api.POST("/logout", a.logout)
	api.POST("/logout-all", a.logoutAll)
	api.GET("/platform", platform.Require(), a.getPlatform)
	api.POST("/platform", a.switchPlatform)
	api.GET("/sessions", a.listSessions)
	api.DELETE("/sessions/:id", a.revokeSession)
	api.GET("/prefs", a.listPrefs)
	api.GET("/prefs/:key", a.getPref)
	api.PUT("/prefs/:key", a.putPref)
	api.DELETE("/prefs/:key", a.deletePref)
	api.GET("/audit", a.listAudit)
	api.GET("/events", a.eventsHandler())
	api.GET("/state", a.stateHandler())

	r.GET("/", a.page)
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not found"})
	})
	return r, nil
}

// noStore keeps API answers out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}
