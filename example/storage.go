package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/storage"
)

// openStorage opens the session storage of the configured mode through the
// storage package and sets a.storage, a.store, a.sqlDB, a.redis and
// a.broker.
//
//	database  sessions in SQL: DATABASE_URL, or the SQLite file in the data dir
//	redis     sessions in Redis; the audit trail in SQL as above
//	hybrid    Redis serves, SQL mirrors and takes over when Redis fails
func (a *App) openStorage(ctx context.Context) error {
	mode := storage.Mode(a.cfg.Storage)
	cfg := storage.Config{
		Mode:        mode,
		RedisURL:    a.cfg.RedisURL,
		DatabaseURL: a.cfg.DatabaseURL,
	}
	if v, ok := a.cfg.lookup(storage.EnvRedisPrefix); ok {
		cfg.RedisPrefix = strings.TrimSpace(v)
	}
	var auditDesc string
	if mode == storage.ModeRedis {
		// Redis mode keeps no sessions in SQL: open the audit trail's
		// database here, and let the health report watch it.
		db, desc, err := a.openSQL()
		if err != nil {
			return err
		}
		a.sqlDB, auditDesc = db, desc
	}
	opts := storage.Options{
		HealthDB:          a.sqlDB,
		DefaultSQLitePath: a.cfg.sqlitePath(),
		Lookup:            a.cfg.lookup,
		Logger:            a.log,
		Observer:          a.observer,
		Hybrid: hybrid.Options{
			// The hybrid store calls this from its own goroutine; the manager
			// exists by the time Redis can first fail.
			OnStateChange: func(engaged bool) {
				kind := ginsession.EventFallbackRecovered
				if engaged {
					kind = ginsession.EventFallbackEngaged
				}
				if m := a.managerLoaded(); m != nil {
					m.Emit(ginsession.Event{Kind: kind, Detail: "redis"})
				}
				if engaged {
					a.log.Warn("degraded: Redis failed; sessions are served from SQL until it answers")
				} else {
					a.log.Info("recovered: Redis answers again and serves sessions")
				}
			},
		},
	}
	st, err := storage.Open(ctx, cfg, opts)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, st.Close)
	a.storage, a.store, a.redis = st, st.Store(), st.RedisClient()
	a.broker = live.NewLocalBroker()
	if rb := st.Broker(); rb != nil {
		a.broker = &dualBroker{remote: rb, local: live.NewLocalBroker(), log: a.log}
	}
	sqlDesc := redactURL(a.cfg.DatabaseURL)
	if a.cfg.DatabaseURL == "" {
		sqlDesc = "embedded SQLite file " + a.cfg.sqlitePath()
		if a.cfg.RedisURL == "" {
			sqlDesc += " (no REDIS_URL or DATABASE_URL set: no server needed)"
		}
	}
	redisDesc := redactURL(a.cfg.RedisURL)
	switch st.Mode() {
	case storage.ModeDatabase:
		a.sqlDB = st.DB()
		a.StorageDesc = "database: " + sqlDesc
	case storage.ModeRedis:
		a.StorageDesc = "redis: " + redisDesc + " (audit trail in " + auditDesc + ")"
	case storage.ModeHybrid:
		a.sqlDB = st.DB()
		a.StorageDesc = "hybrid: redis " + redisDesc + ", mirrored to " + sqlDesc
	}
	if a.redis != nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := a.redis.Ping(pctx).Err(); err != nil {
			w := "Redis does not answer: " + err.Error()
			if st.Hybrid() != nil {
				w += "; sessions are served from " + sqlDesc + " until it does"
			}
			a.Warnings = append(a.Warnings, w)
		}
	}
	return nil
}

// openSQL opens the SQL database for the audit trail alone (redis mode):
// DATABASE_URL, or the SQLite file in the data dir.
func (a *App) openSQL() (*sql.DB, string, error) {
	url := a.cfg.DatabaseURL
	var db *sql.DB
	var err error
	var desc string
	if lower := strings.ToLower(url); strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") ||
		strings.HasPrefix(lower, "mysql://") || strings.HasPrefix(lower, "mariadb://") {
		db, err = dbstore.OpenDB(url)
		desc = redactURL(url)
	} else {
		path := url
		if path == "" {
			path = a.cfg.sqlitePath()
		}
		path = strings.TrimPrefix(strings.TrimPrefix(path, "sqlite:"), "//")
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err == nil {
			db.SetMaxOpenConns(1)
		}
		desc = "SQLite file " + path
	}
	if err != nil {
		return nil, "", fmt.Errorf("audit database (%s): %w", envDatabaseURL, err)
	}
	a.closers = append(a.closers, db.Close)
	return db, desc, nil
}
