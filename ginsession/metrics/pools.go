package metrics

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// RedisPooler is a go-redis client: every redis.UniversalClient has
// PoolStats.
type RedisPooler interface {
	PoolStats() *redis.PoolStats
}

// RegisterRedisPool exports the connection pool of a go-redis client,
// read at each scrape, with a "pool" label of name ("sessions", say, when
// the app has several clients):
//
//	sessions_redis_pool_hits_total            a free connection was found in the pool
//	sessions_redis_pool_misses_total          none was: a new one was dialed or waited for
//	sessions_redis_pool_timeouts_total        waits for a connection that timed out
//	sessions_redis_pool_waits_total           waits for a connection
//	sessions_redis_pool_wait_seconds_total    time spent waiting for a connection
//	sessions_redis_pool_connections           open connections
//	sessions_redis_pool_idle_connections      idle connections
//	sessions_redis_pool_stale_connections_total  connections closed as stale
//
// Timeouts and waits are what to alert on: a pool too small for the
// load. Registering a second client under one name is an error.
func (m *Metrics) RegisterRedisPool(name string, c RedisPooler) error {
	if c == nil {
		return errors.New("metrics: RegisterRedisPool: nil client")
	}
	if err := m.reg.Register(newRedisPoolCollector(m.ns, name, c, m.constLabels())); err != nil {
		return fmt.Errorf("metrics: RegisterRedisPool: %w", err)
	}
	return nil
}

// RegisterDBStats exports the connection pool of db (sql.DB.Stats) with
// the standard collector of client_golang, whose series are named
// go_sql_* (go_sql_open_connections, go_sql_in_use_connections,
// go_sql_wait_count_total, go_sql_wait_duration_seconds_total, ...) and
// carry a db_name label of name, whatever the Namespace. Registering a
// second database under one name is an error.
func (m *Metrics) RegisterDBStats(name string, db *sql.DB) error {
	if db == nil {
		return errors.New("metrics: RegisterDBStats: nil *sql.DB")
	}
	reg := m.reg
	if len(m.cl) > 0 {
		reg = prometheus.WrapRegistererWith(m.cl, reg)
	}
	if err := reg.Register(collectors.NewDBStatsCollector(db, name)); err != nil {
		return fmt.Errorf("metrics: RegisterDBStats: %w", err)
	}
	return nil
}

// redisPoolCollector reads a go-redis client's pool stats once per scrape.
type redisPoolCollector struct {
	c                                                          RedisPooler
	hits, misses, timeouts, waits, waitSec, total, idle, stale *prometheus.Desc
}

func newRedisPoolCollector(ns, name string, c RedisPooler, cl prometheus.Labels) *redisPoolCollector {
	labels := prometheus.Labels{"pool": name}
	for k, v := range cl {
		labels[k] = v
	}
	d := func(n, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "redis_pool", n), help, nil, labels)
	}
	return &redisPoolCollector{
		c:        c,
		hits:     d("hits_total", "Times a free connection was found in the Redis pool."),
		misses:   d("misses_total", "Times no free connection was found in the Redis pool."),
		timeouts: d("timeouts_total", "Waits for a Redis pool connection that timed out."),
		waits:    d("waits_total", "Waits for a Redis pool connection."),
		waitSec:  d("wait_seconds_total", "Time spent waiting for a Redis pool connection, in seconds."),
		total:    d("connections", "Open connections of the Redis pool."),
		idle:     d("idle_connections", "Idle connections of the Redis pool."),
		stale:    d("stale_connections_total", "Redis pool connections closed as stale."),
	}
}

// Describe implements prometheus.Collector.
func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.timeouts, c.waits, c.waitSec, c.total, c.idle, c.stale} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.c.PoolStats()
	if st == nil {
		return
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.hits, float64(st.Hits))
	counter(c.misses, float64(st.Misses))
	counter(c.timeouts, float64(st.Timeouts))
	counter(c.waits, float64(st.WaitCount))
	counter(c.waitSec, float64(st.WaitDurationNs)/1e9)
	gauge(c.total, float64(st.TotalConns))
	gauge(c.idle, float64(st.IdleConns))
	counter(c.stale, float64(st.StaleConns))
}
