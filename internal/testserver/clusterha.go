package testserver

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ClusterHA is a Redis Cluster of 3 masters, each with one replica, owned
// by one test (stopped at its cleanup), for failover tests that must not
// disturb the shared cluster. Node timeout 1 s: a killed master is
// replaced by its replica within a few seconds.
type ClusterHA struct {
	t     testing.TB
	mu    sync.Mutex
	nodes map[string]*proc // by address
	// Masters and Replicas are the nodes' roles at start; Replicas[i]
	// replicates Masters[i].
	Masters, Replicas []string
}

// StartRedisClusterHA starts a private Redis Cluster of 3 masters and 3
// replicas and waits until every replica is in sync.
func StartRedisClusterHA(t testing.TB) *ClusterHA {
	t.Helper()
	bin, ok := lookBinary("redis-server")
	if !ok {
		Unavailable(t, "%s", redisMissing)
	}
	t0 := time.Now()
	c := &ClusterHA{t: t, nodes: map[string]*proc{}}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.nodes {
			_ = p.stop(syscall.SIGKILL)
		}
	})
	dir, err := subDir("redis-cluster-ha")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	var all []*proc
	for i := range 6 {
		p, addr, err := startClusterNode(bin, filepath.Join(dir, strconv.Itoa(i)), "1000")
		if err != nil {
			t.Fatalf("testserver: cluster node: %v", err)
		}
		c.nodes[addr] = p
		all = append(all, p)
		if i < 3 {
			c.Masters = append(c.Masters, addr)
		} else {
			c.Replicas = append(c.Replicas, addr)
		}
	}
	if err := formMasters(c.Masters); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	if err := waitClusterOK(all[:3], c.Masters); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	if err := c.attachReplicas(); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Logf("testserver: started Redis Cluster masters %v replicas %v in %v", c.Masters, c.Replicas, time.Since(t0).Round(time.Millisecond))
	return c
}

// attachReplicas introduces each replica and makes it replicate its
// master, then waits until every link is up and every node sees 6 nodes.
func (c *ClusterHA) attachReplicas() error {
	host := "127.0.0.1"
	for i, r := range c.Replicas {
		_, port, _ := strings.Cut(c.Masters[0], ":")
		if _, err := redisDo(r, "CLUSTER", "MEET", host, port); err != nil {
			return fmt.Errorf("meet %s: %w", r, err)
		}
		id, err := redisString(c.Masters[i], "CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("myid %s: %w", c.Masters[i], err)
		}
		deadline := time.Now().Add(waitTimeout)
		for {
			// The replica must have heard of the master by gossip first.
			_, err = redisDo(r, "CLUSTER", "REPLICATE", id)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s of %s: %w", r, c.Masters[i], err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	all := append(append([]string(nil), c.Masters...), c.Replicas...)
	deadline := time.Now().Add(waitTimeout)
	for {
		err := clusterOK(all)
		for _, r := range c.Replicas {
			info, e := redisString(r, "INFO", "replication")
			if e == nil && infoField(info, "master_link_status") != "up" {
				e = fmt.Errorf("%s: master link %s", r, infoField(info, "master_link_status"))
			}
			err = errors.Join(err, e)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster with replicas not ready after %v: %w", waitTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addrs returns every node's address, masters first.
func (c *ClusterHA) Addrs() []string {
	return append(append([]string(nil), c.Masters...), c.Replicas...)
}

// Failover runs CLUSTER FAILOVER on replica (a coordinated switch: the
// master stops taking writes until the replica has caught up) and waits
// until replica reports itself master and the cluster is ok.
func (c *ClusterHA) Failover(replica string) {
	c.t.Helper()
	if _, err := redisDo(replica, "CLUSTER", "FAILOVER"); err != nil {
		c.t.Fatalf("testserver: cluster failover on %s: %v", replica, err)
	}
	c.waitMaster(replica)
}

// Kill kills the node at addr (SIGKILL) and waits until its port refuses
// connections.
func (c *ClusterHA) Kill(addr string) {
	c.t.Helper()
	c.mu.Lock()
	p := c.nodes[addr]
	c.mu.Unlock()
	if p == nil {
		c.t.Fatalf("testserver: no cluster node %s", addr)
	}
	if err := p.stop(syscall.SIGKILL); err != nil {
		c.t.Fatalf("testserver: kill %s: %v", addr, err)
	}
	if err := waitRefused(addr); err != nil {
		c.t.Fatalf("testserver: kill %s: %v", addr, err)
	}
}

// WaitPromoted waits until replica has taken over as master (after its
// master was killed).
func (c *ClusterHA) WaitPromoted(replica string) { c.t.Helper(); c.waitMaster(replica) }

func (c *ClusterHA) waitMaster(addr string) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		info, err := redisString(addr, "INFO", "replication")
		if err == nil && infoField(info, "role") == "master" {
			if st, err := redisString(addr, "CLUSTER", "INFO"); err == nil && infoField(st, "cluster_state") == "ok" {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testserver: %s not a master of an ok cluster after %v (%v)", addr, waitTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
