package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelSet is a Redis master, one replica and one Sentinel watching
// them, owned by one test. Sentinel decides a failure after 1 s
// (down-after-milliseconds 1000).
type SentinelSet struct {
	// MasterName is the name Sentinel knows the master by ("mymaster").
	MasterName string
	// SentinelAddrs are the Sentinels' addresses (one here), for
	// redis.FailoverOptions.SentinelAddrs.
	SentinelAddrs []string
	// MasterAddr and ReplicaAddr are the initial roles. After a failover
	// they swap: ask [SentinelSet.CurrentMaster].
	MasterAddr, ReplicaAddr string
	// MasterProc and ReplicaProc are the processes first serving
	// MasterAddr and ReplicaAddr, for fault injection (kill the master).
	MasterProc, ReplicaProc *RedisProc
}

// Sentinel starts a dedicated master + replica + Sentinel for t (ready in
// about half a second), stopped and removed at t's cleanup. It returns
// once the replica is in sync and Sentinel sees both, so a failover can
// start at once.
func Sentinel(t testing.TB) *SentinelSet {
	t.Helper()
	bin, ok := lookBinary("redis-server")
	if !ok {
		Unavailable(t, "redis-server not found on PATH: install it (apt-get install redis-server); Sentinel runs as redis-server --sentinel")
	}
	t0 := time.Now()
	master := StartRedis(t, "--repl-diskless-sync-delay", "0")
	_, mport, _ := net.SplitHostPort(master.Addr)
	replica := StartRedis(t, "--replicaof", "127.0.0.1", mport)
	if err := waitFor("replica "+replica.Addr+" in sync", func() error {
		info, err := redisString(replica.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if s := infoField(info, "master_link_status"); s != "up" {
			return fmt.Errorf("master_link_status:%s", s)
		}
		return nil
	}); err != nil {
		t.Fatalf("testserver: %v", err)
	}

	const name = "mymaster"
	dir, err := subDir("sentinel")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p, port, err := startOnPort(false, func(port int) (*proc, error) {
		conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it: its own file
		lines := []string{
			"bind 127.0.0.1",
			"port " + strconv.Itoa(port),
			"daemonize no",
			"dir " + dir,
			"logfile " + filepath.Join(dir, "sentinel.log"),
			"sentinel monitor " + name + " 127.0.0.1 " + mport + " 1",
			"sentinel down-after-milliseconds " + name + " 1000",
			"sentinel failover-timeout " + name + " 5000",
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc(procSpec{
			name:    "redis-server --sentinel " + localAddr(port),
			argv:    []string{bin, conf, "--sentinel"},
			dir:     dir,
			logs:    []string{filepath.Join(dir, "sentinel.log")},
			quitSig: syscall.SIGKILL,
		})
		if err != nil {
			return nil, err
		}
		// Cleanups run last-in first-out: Sentinel stops before the
		// servers it watches, so it never acts on their shutdown.
		return p, readyOrRetry(p, func() error {
			if err := redisReady(p, localAddr(port))(); err != nil {
				return err
			}
			return sentinelSees(localAddr(port), name)
		})
	})
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() { _ = p.stop(syscall.SIGKILL) })
	t.Logf("testserver: started Sentinel %s watching %s and replica %s in %v", localAddr(port), master.Addr, replica.Addr, time.Since(t0).Round(time.Millisecond))
	return &SentinelSet{
		MasterName:    name,
		SentinelAddrs: []string{localAddr(port)},
		MasterAddr:    master.Addr,
		ReplicaAddr:   replica.Addr,
		MasterProc:    master,
		ReplicaProc:   replica,
	}
}

// sentinelSees checks that the sentinel flags the master as "master" and
// the replica as "slave" (the flags field exactly: a grep over the whole
// reply also matches role-reported and passes falsely).
func sentinelSees(addr, name string) error {
	m, err := redisDo(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return err
	}
	if f := pairs(m)["flags"]; f != "master" {
		return fmt.Errorf("sentinel: master flags %q", f)
	}
	r, err := redisDo(addr, "SENTINEL", "REPLICAS", name)
	if err != nil {
		return err
	}
	list, _ := r.([]any)
	for _, e := range list {
		if pairs(e)["flags"] == "slave" {
			return nil
		}
	}
	return errors.New("sentinel: no replica flagged slave yet")
}

// waitFor polls f until it succeeds or waitTimeout passes.
func waitFor(what string, f func() error) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v: %w", what, waitTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *SentinelSet) client() *redis.SentinelClient {
	quietRedisLog()
	return redis.NewSentinelClient(&redis.Options{Addr: s.SentinelAddrs[0]})
}

// Failover asks Sentinel to fail over now (SENTINEL FAILOVER), without
// waiting for agreement. It returns once Sentinel accepted the request; the
// new master is reported within about a second: poll
// [SentinelSet.CurrentMaster]. Writes to the old master in that window are
// lost when it is turned into a replica.
func (s *SentinelSet) Failover(ctx context.Context) error {
	c := s.client()
	defer c.Close()
	if err := c.Failover(ctx, s.MasterName).Err(); err != nil {
		return fmt.Errorf("testserver: sentinel failover: %w", err)
	}
	return nil
}

// CurrentMaster returns the address ("127.0.0.1:port") Sentinel reports
// for the master now (SENTINEL get-master-addr-by-name).
func (s *SentinelSet) CurrentMaster(ctx context.Context) (string, error) {
	c := s.client()
	defer c.Close()
	hp, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("testserver: sentinel get-master-addr-by-name: %w", err)
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("testserver: sentinel get-master-addr-by-name: unexpected reply %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}
