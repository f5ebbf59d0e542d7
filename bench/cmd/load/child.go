package main

import (
	"os"
	"os/exec"
	"time"
)

// child is a server process the driver started (redis-server, nginx) and
// the directory it runs in.
type child struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	done chan struct{} // closed when the process has exited
}

// newChild watches cmd, already started, for its exit.
func newChild(addr string, cmd *exec.Cmd, dir string) child {
	c := child{Addr: addr, cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c
}

// stop kills the process (it holds no state worth a graceful stop), waits
// for it and removes its directory.
func (c *child) stop() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	_ = os.RemoveAll(c.dir)
}
