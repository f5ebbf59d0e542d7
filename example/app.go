package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

// App is the reference application: its router, session manager and the
// stores behind them. Build it with newApp, serve App.Handler, and Close it.
type App struct {
	cfg      appConfig
	log      *slog.Logger
	sessions *ginsession.Manager
	handler  http.Handler
	closers  []func() error // run in reverse order by Close
	// StorageDesc says which storage serves sessions, for the start log.
	StorageDesc string
	// KeyFileCreated: no key was configured and a new key file was written.
	KeyFileCreated bool
}

// newApp builds the app from cfg: it opens (and migrates) the storage,
// loads or creates the encryption key, and wires the routes. It starts no
// listener.
func newApp(ctx context.Context, cfg appConfig) (a *App, err error) {
	a = &App{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = a.Close()
			a = nil
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	sc := cfg.Session
	if sc.Keyring == nil {
		kr, created, err := loadOrCreateKey(cfg.keyFile())
		if err != nil {
			return nil, err
		}
		sc.Keyring, a.KeyFileCreated = kr, created
	}
	st, desc, err := a.openStorage(ctx)
	if err != nil {
		return nil, err
	}
	sc.Store = st
	a.StorageDesc = desc
	a.sessions, err = ginsession.NewManager(sc)
	if err != nil {
		return nil, err
	}
	a.handler, err = a.routes()
	if err != nil {
		return nil, err
	}
	return a, nil
}

// openStorage opens the session store of the configured mode.
func (a *App) openStorage(ctx context.Context) (store.Store, string, error) {
	url, desc := a.cfg.DatabaseURL, "database "+redactURL(a.cfg.DatabaseURL)
	if url == "" {
		url, desc = a.cfg.sqlitePath(), "embedded SQLite file "+a.cfg.sqlitePath()
	}
	st, err := dbstore.Open(ctx, url, dbstore.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("session storage: %w", err)
	}
	a.closers = append(a.closers, st.Close)
	return st, desc, nil
}

// redactURL drops the password from a URL for logs.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		cred := rest[:at]
		if user, _, hasPass := strings.Cut(cred, ":"); hasPass {
			return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
		}
	}
	return u
}

// Handler returns the app's HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Close releases the stores. It is safe to call more than once.
func (a *App) Close() error {
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
	if err := r.SetTrustedProxies(nil); err != nil {
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
