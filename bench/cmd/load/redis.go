package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisServer is a redis-server the driver started: loopback only, no
// persistence, in its own temporary directory.
type redisServer struct{ child }

// startRedis starts redis-server (found on PATH) on a free loopback port.
func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH: install it (apt-get install redis-server) or pass -redis 127.0.0.1:port")
	}
	dir, err := os.MkdirTemp("", "bench-load-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--save", "", "--appendonly", "no", "--daemonize", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		rs := &redisServer{newChild(addr, cmd, dir)}
		if lastErr = rs.waitReady(5 * time.Second); lastErr == nil {
			return rs, nil
		}
		rs.stop()
		dir, _ = os.MkdirTemp("", "bench-load-redis-")
	}
	return nil, fmt.Errorf("redis-server did not start: %w", lastErr)
}

// waitReady polls PING until the server answers or the process exits.
func (rs *redisServer) waitReady(timeout time.Duration) error {
	c := goredis.NewClient(&goredis.Options{Addr: rs.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-rs.done:
			log, _ := os.ReadFile(filepath.Join(rs.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", tail(string(log), 400))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("redis-server did not answer PING in time")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// loopback reports whether addr's host is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
