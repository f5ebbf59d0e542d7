package storage_test

import (
	"testing"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// The hybrid composition is a store like any other: it passes the suite
// on real Redis with SQLite, and with PostgreSQL and MariaDB, write-through
// and write-behind.
func TestConformanceHybridSQLite(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: testserver.Prefix(t), DatabaseURL: sqlitePath(t)}
		return open(t, cfg, storage.Options{}).Store()
	}, storetest.Options{})
}

func TestConformanceHybridSQLiteWriteBehind(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: testserver.Prefix(t), DatabaseURL: sqlitePath(t)}
		var o storage.Options
		o.Hybrid.WriteBehind = true
		return open(t, cfg, o).Store()
	}, storetest.Options{})
}

func TestConformanceHybridPostgres(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: testserver.Prefix(t), DatabaseURL: testserver.Postgres(t)}
		return open(t, cfg, storage.Options{}).Store()
	}, storetest.Options{})
}

func TestConformanceHybridMySQL(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := storage.Config{Mode: storage.ModeHybrid, RedisURL: redisURL(t), RedisPrefix: testserver.Prefix(t), DatabaseURL: testserver.MySQL(t)}
		return open(t, cfg, storage.Options{}).Store()
	}, storetest.Options{})
}

// Database mode's store (the SQL store behind the generation guard) passes
// too.
func TestConformanceDatabaseMode(t *testing.T) {
	t.Parallel() // mostly waits on expiry deadlines
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := storage.Config{Mode: storage.ModeDatabase, DatabaseURL: sqlitePath(t)}
		return open(t, cfg, storage.Options{}).Store()
	}, storetest.Options{})
}
