// Package testserver gives tests real backing servers: a standalone Redis, a
// 3-master Redis Cluster, a Sentinel set, PostgreSQL and MariaDB. It is a normal
// package, not a _test file, so that every package's tests can import it; it
// is meant for tests only.
//
// Each shared helper honours an environment variable first and otherwise
// starts the binary itself, once per test process, on a free port of
// 127.0.0.1 in a temporary directory:
//
//	Redis, RedisClient    REDIS_URL              redis-server
//	RedisCluster          REDIS_CLUSTER_ADDRS    redis-server --cluster-enabled yes (x3)
//	Postgres              DATABASE_URL           initdb + postgres (PostgreSQL 15 or later)
//	MySQL, MySQLDSN       MYSQL_URL              mariadb-install-db + mariadbd
//
// Tests share those servers and isolate themselves: every Redis test puts
// its keys under its own [Prefix] (nobody runs FLUSHDB), every [Postgres]
// caller gets a fresh schema of its own, and every [MySQL] caller a fresh
// database, dropped at cleanup.
//
// Tests that break servers on purpose (kill, freeze, restart, failover) get
// dedicated ones instead: [StartRedis], [Sentinel] and [StartPostgres]. They
// are stopped at the test's cleanup.
//
// Wire it up once per package:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		rdb := testserver.RedisClient(t)
//		prefix := testserver.Prefix(t)
//		if err := rdb.Set(t.Context(), prefix+"k", "v", 0).Err(); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// [Main] stops the shared servers after the tests and removes their
// directories. Every server is also started with a parent-death signal, so
// it dies with the test process even when the process is killed or times
// out, and a later run removes directories that dead runs left behind.
//
// When a binary is missing (and its environment variable is not set), the
// test is skipped with a message saying what to install, unless CI or
// REQUIRE_SERVICES is set: then it fails (see [Required]). A server that is
// present but fails to start always fails the test, with the tail of its log.
//
// The first go-redis client this package creates installs a go-redis logger that drops the
// "failed to dial" lines fault-injection tests would otherwise print by the
// hundred; other go-redis log lines still reach stderr.
package testserver
