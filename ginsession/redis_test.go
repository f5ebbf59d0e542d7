package ginsession_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// The per-user tests also run on a real redis-server and on a real 3-master
// Redis Cluster, where a user's sessions live in different slots.
func init() {
	storeMakers["redis"] = func(t testing.TB) store.Store {
		st, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: testserver.Prefix(t)})
		require.NoError(t, err)
		return st
	}
	storeMakers["cluster"] = func(t testing.TB) store.Store {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testserver.RedisCluster(t)})
		t.Cleanup(func() { _ = c.Close() })
		st, err := redisstore.New(c, redisstore.Options{Prefix: testserver.Prefix(t)})
		require.NoError(t, err)
		return st
	}
}
