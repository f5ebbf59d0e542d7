package testserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var sharedCluster struct {
	once  sync.Once
	addrs []string
	out   outcome
}

// RedisCluster returns the addresses of a shared Redis Cluster of 3
// masters (no replicas) that together serve all 16384 slots: the ones in
// REDIS_CLUSTER_ADDRS (comma-separated) if set, else a cluster started once
// per test process on free ports whose bus ports (+10000) are free too.
//
// Use it with redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}),
// and keep every key under [Prefix].
func RedisCluster(t testing.TB) []string {
	t.Helper()
	s := &sharedCluster
	startOnce(t, &s.once, &s.out, startSharedCluster)
	s.out.check(t)
	return append([]string(nil), s.addrs...)
}

func startSharedCluster() outcome {
	s := &sharedCluster
	if env := os.Getenv("REDIS_CLUSTER_ADDRS"); env != "" {
		for _, a := range strings.Split(env, ",") {
			if a = strings.TrimSpace(a); a != "" {
				s.addrs = append(s.addrs, a)
			}
		}
		if len(s.addrs) == 0 {
			return outcome{err: fmt.Errorf("REDIS_CLUSTER_ADDRS=%q names no address", env)}
		}
		for _, a := range s.addrs {
			c, err := net.DialTimeout("tcp", a, 2*time.Second)
			if err != nil {
				return outcome{skip: fmt.Sprintf("REDIS_CLUSTER_ADDRS names %s, which does not answer: %v", a, err)}
			}
			c.Close()
		}
		return outcome{msg: fmt.Sprintf("using REDIS_CLUSTER_ADDRS %v", s.addrs)}
	}
	bin, ok := lookBinary("redis-server")
	if !ok {
		return outcome{skip: strings.Replace(redisMissing, "REDIS_URL", "REDIS_CLUSTER_ADDRS", 1)}
	}
	nodes, addrs, err := startCluster(bin)
	if err != nil {
		return outcome{err: err}
	}
	atShutdown(func() {
		for _, p := range nodes {
			_ = p.stop(syscall.SIGKILL)
		}
	})
	s.addrs = addrs
	return outcome{msg: fmt.Sprintf("started shared Redis Cluster %v in %s", addrs, nodes[0].dir[:strings.LastIndexByte(nodes[0].dir, '/')])}
}

// startCluster starts 3 cluster-enabled nodes, gives each a third of the
// slots and a distinct config epoch, introduces them, and waits until every
// node reports cluster_state:ok with 3 known nodes. It does in-process what
// redis-cli --cluster create does, without its fixed one-second waits.
func startCluster(bin string) (nodes []*proc, addrs []string, err error) {
	defer func() {
		if err != nil {
			for _, p := range nodes {
				_ = p.stop(syscall.SIGKILL)
			}
		}
	}()
	dir, err := subDir("redis-cluster")
	if err != nil {
		return nil, nil, err
	}
	for i := range 3 {
		p, addr, err := startClusterNode(bin, filepath.Join(dir, strconv.Itoa(i)), "5000")
		if err != nil {
			return nodes, addrs, err
		}
		nodes = append(nodes, p)
		addrs = append(addrs, addr)
	}

	if err := formMasters(addrs); err != nil {
		return nodes, addrs, err
	}
	return nodes, addrs, waitClusterOK(nodes, addrs)
}

// formMasters gives each node an equal share of the slots and a distinct
// config epoch, and introduces every pair.
func formMasters(addrs []string) error {
	const slots = 16384
	for i, a := range addrs {
		if _, err := redisDo(a, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("cluster node %s: set-config-epoch: %w", a, err)
		}
		args := []string{"CLUSTER", "ADDSLOTS"}
		for s := i * slots / len(addrs); s < (i+1)*slots/len(addrs); s++ {
			args = append(args, strconv.Itoa(s))
		}
		if _, err := redisDo(a, args...); err != nil {
			return fmt.Errorf("cluster node %s: addslots: %w", a, err)
		}
	}
	// Every pair meets directly: faster than waiting for gossip to
	// introduce the second and third nodes to each other.
	for i, from := range addrs {
		for _, to := range addrs[i+1:] {
			host, port, _ := net.SplitHostPort(to)
			if _, err := redisDo(from, "CLUSTER", "MEET", host, port); err != nil {
				return fmt.Errorf("cluster node %s: meet %s: %w", from, to, err)
			}
		}
	}

	return nil
}

// waitClusterOK waits until every node reports cluster_state:ok and knows
// all of addrs.
func waitClusterOK(nodes []*proc, addrs []string) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		err := clusterOK(addrs)
		if err == nil {
			return nil
		}
		for _, p := range nodes {
			if !p.running() {
				return p.exitError()
			}
		}
		if time.Now().After(deadline) {
			var tails string
			for _, p := range nodes {
				tails += p.logTail()
			}
			return fmt.Errorf("redis cluster %v not ok after %v: %v%s", addrs, waitTimeout, err, tails)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startClusterNode starts one cluster-enabled redis-server in dir on a
// free port whose bus port is free too.
func startClusterNode(bin, nd, nodeTimeout string) (*proc, string, error) {
	if err := os.Mkdir(nd, 0o755); err != nil {
		return nil, "", err
	}
	p, port, err := startOnPort(true, func(port int) (*proc, error) {
		_ = os.Remove(filepath.Join(nd, "nodes.conf")) // a stale one breaks the cluster
		spec := procSpec{
			name: fmt.Sprintf("redis-server (cluster node) %s", localAddr(port)),
			argv: []string{bin,
				"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
				"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nd, "nodes.conf"),
				"--cluster-node-timeout", nodeTimeout,
				"--save", "", "--appendonly", "no", "--daemonize", "no",
				"--dir", nd, "--logfile", filepath.Join(nd, "redis.log"),
			},
			dir:     nd,
			logs:    []string{filepath.Join(nd, "redis.log")},
			quitSig: syscall.SIGKILL,
		}
		p, err := startProc(spec)
		if err != nil {
			return nil, err
		}
		return p, readyOrRetry(p, redisReady(p, localAddr(port)))
	})
	if err != nil {
		return nil, "", err
	}
	return p, localAddr(port), nil
}

// clusterOK checks every node's own view: state ok and all nodes known.
func clusterOK(addrs []string) error {
	var errs []error
	for _, a := range addrs {
		info, err := redisString(a, "CLUSTER", "INFO")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		state, known := infoField(info, "cluster_state"), infoField(info, "cluster_known_nodes")
		if state != "ok" || known != strconv.Itoa(len(addrs)) {
			errs = append(errs, fmt.Errorf("%s: cluster_state:%s cluster_known_nodes:%s", a, state, known))
		}
	}
	return errors.Join(errs...)
}
