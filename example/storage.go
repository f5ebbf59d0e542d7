package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/redisstore"
)

// openStorage opens the stores of the configured mode and sets a.store,
// a.sqlDB, a.redis and a.broker.
//
//	database  sessions in SQL: DATABASE_URL, or the SQLite file in the data dir
//	redis     sessions in Redis; the audit trail in SQL as above
//	hybrid    Redis serves, SQL mirrors and takes over when Redis fails
func (a *App) openStorage(ctx context.Context) error {
	switch a.cfg.Storage {
	case modeDatabase:
		db, desc, err := a.openDBStore(ctx)
		if err != nil {
			return err
		}
		a.store, a.sqlDB, a.broker = db, db.DB(), newLocalBroker()
		a.StorageDesc = "database: " + desc
		return nil
	case modeRedis:
		rs, err := a.openRedis()
		if err != nil {
			return err
		}
		db, desc, err := a.openSQL()
		if err != nil {
			return err
		}
		a.store, a.redis, a.broker, a.sqlDB = rs, rs.Client(), rs, db
		a.StorageDesc = "redis: " + redactURL(a.cfg.RedisURL) + " (audit trail in " + desc + ")"
		a.pingRedis(ctx)
		return nil
	case modeHybrid:
		return a.openHybrid(ctx)
	}
	return fmt.Errorf("%s: unknown mode %q", envStorage, a.cfg.Storage)
}

// openDBStore opens the SQL session store.
func (a *App) openDBStore(ctx context.Context) (*dbstore.Store, string, error) {
	url, desc := a.cfg.DatabaseURL, redactURL(a.cfg.DatabaseURL)
	if url == "" {
		url, desc = a.cfg.sqlitePath(), "embedded SQLite file "+a.cfg.sqlitePath()
	}
	st, err := dbstore.Open(ctx, url, dbstore.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("session database: %w", err)
	}
	a.closers = append(a.closers, st.Close)
	return st, desc, nil
}

// openSQL opens the SQL database for the audit trail alone (redis mode).
func (a *App) openSQL() (*sql.DB, string, error) {
	url := a.cfg.DatabaseURL
	var db *sql.DB
	var err error
	var desc string
	if lower := strings.ToLower(url); strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		db, err = sql.Open("pgx", url)
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
		return nil, "", fmt.Errorf("audit database: %w", err)
	}
	a.closers = append(a.closers, db.Close)
	return db, desc, nil
}

// openRedis connects to REDIS_URL with REDIS_SESSION_PREFIX.
func (a *App) openRedis() (*redisstore.Store, error) {
	var opts redisstore.Options
	if v, ok := a.cfg.lookup(redisstore.EnvPrefix); ok && strings.TrimSpace(v) != "" {
		opts.Prefix = strings.TrimSpace(v)
	}
	rs, err := redisstore.NewFromURL(a.cfg.RedisURL, opts)
	if err != nil {
		return nil, fmt.Errorf("%s / %s: %w", envRedisURL, redisstore.EnvPrefix, err)
	}
	a.closers = append(a.closers, rs.Close)
	return rs, nil
}

// pingRedis notes at start when Redis does not answer: the app still
// starts (the health check reports it, and hybrid mode serves from SQL).
func (a *App) pingRedis(ctx context.Context) {
	if a.redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := a.redis.Ping(ctx).Err(); err != nil {
		a.Warnings = append(a.Warnings, "Redis does not answer: "+err.Error())
	}
}
