package storage_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(t0)
}

// stateLog records a hybrid store's OnStateChange calls.
type stateLog struct {
	mu     sync.Mutex
	states []bool
}

func (l *stateLog) add(engaged bool) {
	l.mu.Lock()
	l.states = append(l.states, engaged)
	l.mu.Unlock()
}

func (l *stateLog) get() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.states...)
}

// cutter is a TCP forwarder in front of a real server that can cut the
// path for its clients only (a network partition): Cut closes every
// connection and makes new ones hang without an answer until Heal.
type cutter struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutter(t testing.TB, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		c.Cut()
		c.wg.Wait()
	})
	return c
}

func (c *cutter) Addr() string { return c.ln.Addr().String() }

func (c *cutter) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut.Load() {
		return false
	}
	c.conns[conn] = true
	return true
}

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		if !c.track(in) {
			// Partitioned: hold the connection open, answer nothing.
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				for c.cut.Load() {
					time.Sleep(10 * time.Millisecond)
				}
				_ = in.Close()
			}()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil || !c.track(out) {
			_ = in.Close()
			if out != nil {
				_ = out.Close()
			}
			continue
		}
		c.wg.Add(2)
		go func() { defer c.wg.Done(); _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { defer c.wg.Done(); _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// Cut partitions the forwarder's clients from the server.
func (c *cutter) Cut() {
	c.mu.Lock()
	c.cut.Store(true)
	for conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = map[net.Conn]bool{}
	c.mu.Unlock()
}

// Heal lets new connections through again.
func (c *cutter) Heal() { c.cut.Store(false) }
