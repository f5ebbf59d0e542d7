package bench

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// RoundTrips counts request/reply exchanges on the Redis connections it
// dials: one each time a connection is read after it was written to. A
// pipeline of many commands is one round trip; a connection's set-up
// exchanges (HELLO, CLIENT SETINFO, a pool's PING) count like any other.
// It works for go-redis ([RoundTrips.Dialer]) and redigo
// ([RoundTrips.NetDial]) alike, so both are measured the same way.
type RoundTrips struct{ n atomic.Int64 }

// Load returns the count so far; 0 for a nil RoundTrips.
func (r *RoundTrips) Load() int64 {
	if r == nil {
		return 0
	}
	return r.n.Load()
}

// Dialer is a go-redis Options.Dialer that counts round trips.
func (r *RoundTrips) Dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c, rt: r}, nil
}

// NetDial is a redigo DialNetDial function that counts round trips.
func (r *RoundTrips) NetDial(network, addr string) (net.Conn, error) {
	return r.Dialer(context.Background(), network, addr)
}

type countConn struct {
	net.Conn
	rt    *RoundTrips
	wrote atomic.Bool
}

func (c *countConn) Write(b []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

func (c *countConn) Read(b []byte) (int, error) {
	if c.wrote.Swap(false) {
		c.rt.n.Add(1)
	}
	return c.Conn.Read(b)
}

// SyscallConn keeps go-redis's pool health check (a MSG_PEEK on the
// socket) working through the wrapper, as it does on a bare connection.
func (c *countConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("bench: connection has no syscall.Conn")
	}
	return sc.SyscallConn()
}

// CommandStats returns the calls of every command from INFO commandstats,
// by command name ("get", "evalsha", "client|setinfo", ...). Commands that
// Lua scripts run are counted too, by Redis.
func CommandStats(ctx context.Context, c goredis.UniversalClient) (map[string]int64, error) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, err
				}
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out, nil
}

// measurementCommands are the commands the benchmarks themselves send
// between two [CommandStats]; they are left out of [CommandDelta].
var measurementCommands = map[string]bool{"info": true}

// CommandDelta returns the command calls between two [CommandStats]
// snapshots, without the INFO calls of the measurement, in total and by
// command.
func CommandDelta(before, after map[string]int64) (int64, map[string]int64) {
	var total int64
	by := map[string]int64{}
	for name, n := range after {
		if measurementCommands[name] {
			continue
		}
		if d := n - before[name]; d > 0 {
			by[name] = d
			total += d
		}
	}
	return total, by
}

// MemoryUsage returns the sum of MEMORY USAGE (SAMPLES 0: exact) over keys,
// the bytes Redis spends on them, key names and overhead included. A
// sorted set counts for its share: its usage divided by its members (ours'
// index buckets are shared by the sessions of many users). A missing key
// is an error.
func MemoryUsage(ctx context.Context, c goredis.UniversalClient, keys ...string) (int64, error) {
	var total int64
	for _, k := range keys {
		n, err := c.MemoryUsage(ctx, k, 0).Result()
		if errors.Is(err, goredis.Nil) {
			return 0, errors.New("bench: MEMORY USAGE: key " + strconv.Quote(k) + " does not exist")
		}
		if err != nil {
			return 0, err
		}
		if typ, err := c.Type(ctx, k).Result(); err == nil && typ == "zset" {
			if m, err := c.ZCard(ctx, k).Result(); err == nil && m > 0 {
				n /= m
			}
		}
		total += n
	}
	return total, nil
}

// UsedMemory returns INFO memory's used_memory, in bytes.
func UsedMemory(ctx context.Context, c goredis.UniversalClient) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("bench: INFO memory has no used_memory")
}
