// Command example is the reference app of the sessions module: a small
// multi-user dashboard on server-side sessions, runnable with no servers at
// all.
//
//	go run ./example
//
// With nothing configured it keeps sessions in an embedded SQLite file
// in the user's cache directory (~/.cache/vedfolnir-sessions-example on
// Linux; EXAMPLE_DATA_DIR), creates an encryption key file
// there (mode 0600), and listens on 127.0.0.1:8080 (EXAMPLE_ADDR). With
// REDIS_URL it runs hybrid: Redis serves, SQL mirrors and takes over when
// Redis fails. SESSION_STORAGE=redis|database|hybrid chooses explicitly.
//
// Demo users: alice/alice (admin, two platforms) and bob/bob (user).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// go-redis's own log lines reach logger through the storage package
	// (redisstore.SetLogger), at most one line per format every 10 s.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, envLookup, logger, os.Stderr); err != nil {
		logger.Error("example: " + err.Error())
		os.Exit(1)
	}
}

// shutdownTimeout bounds the graceful shutdown: open event streams are
// closed by then.
const shutdownTimeout = 5 * time.Second

// run builds the app, serves it until ctx ends, then shuts down gracefully.
func run(ctx context.Context, lookup lookupFunc, logger *slog.Logger, out io.Writer) error {
	cfg, err := configFromLookup(lookup, logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	app, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("%s: %w", envAdminAddr, err)
	}
	defer adminLn.Close()
	logger.Info("data directory: " + cfg.DataDir + " (set " + envDataDir + " to change)")
	logger.Info("storage: " + app.StorageDesc)
	for _, w := range app.Warnings {
		logger.Warn("degraded: " + w)
	}
	if app.KeyFileCreated {
		logger.Info("no SESSION_ENCRYPTION_KEYS: created a new key file (mode 0600)", "path", cfg.keyFile())
	} else if _, set := lookup(envKeys); !set {
		logger.Info("no SESSION_ENCRYPTION_KEYS: using the key file", "path", cfg.keyFile())
	}
	if cfg.CookieSecureDefaulted {
		logger.Info("SESSION_COOKIE_SECURE unset and the address is loopback: the session cookie works over plain HTTP")
	}
	srv := newServer(app.Handler(), cfg)
	srv.RegisterOnShutdown(app.Shutdown)
	admin := newServer(app.AdminHandler(), cfg)
	fmt.Fprintf(out, "\n  sessions example: open http://%s/  (log in as alice/alice or bob/bob)\n", ln.Addr())
	fmt.Fprintf(out, "  operator endpoints: http://%s/healthz and /metrics\n\n", adminLn.Addr())
	logger.Info("listening", "addr", ln.Addr().String(), "admin", adminLn.Addr().String())
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- admin.Serve(adminLn) }()
	select {
	case err := <-errc:
		_ = srv.Close()
		_ = admin.Close()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(srv.Shutdown(sctx), admin.Shutdown(sctx))
	<-errc
	<-errc
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// newServer is an http.Server for h with the example's timeouts: a slow
// client cannot hold a connection by sending its headers or body slowly.
func newServer(h http.Handler, cfg appConfig) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       idleTimeout,
	}
}
