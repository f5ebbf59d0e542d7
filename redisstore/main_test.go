package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// newClient returns a fail-fast client on the shared standalone server,
// closed at cleanup.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	o := testserver.RedisOptions(t)
	failFast(o)
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// failFast applies the package's client defaults to o, with a read
// timeout that tolerates a loaded test machine (-race, parallel packages).
func failFast(o *redis.Options) {
	u := redisstore.UniversalOptions()
	o.MaxRetries, o.DialerRetries, o.Protocol = u.MaxRetries, u.DialerRetries, u.Protocol
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, time.Second, time.Second
	o.PoolTimeout, o.ContextTimeoutEnabled = 2*time.Second, true
}

// newClusterClient returns a client on the shared 3-master cluster.
func newClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	u := redisstore.UniversalOptions(testserver.RedisCluster(t)...)
	o := u.Cluster()
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = time.Second, time.Second, time.Second, 2*time.Second
	c := redis.NewClusterClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on c under t's own prefix.
func newStore(t testing.TB, c redis.UniversalClient) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
