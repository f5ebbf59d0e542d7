package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procSpec describes a server process to start.
type procSpec struct {
	name    string   // for messages, e.g. "redis-server 127.0.0.1:6379"
	argv    []string // argv[0] is the binary's path
	dir     string   // working directory, also where the output file goes
	logs    []string // extra log files whose tails explain a failure
	cred    *syscall.Credential
	quitSig syscall.Signal // what cleanup sends; also the parent-death signal
}

// proc is a server process that this test process started and reaps
// itself, so its exit is known exactly (no zombie guessing).
type proc struct {
	procSpec
	cmd     *exec.Cmd
	out     string        // file with the process's stdout and stderr
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid after exited is closed
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from one goroutine locked to its OS thread for the life
// of the process. The parent-death signal (Pdeathsig) fires when the thread
// that forked the child exits, so forking from a thread that never exits
// makes it fire exactly when the test process dies.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread()
			for r := range spawnCh {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// startProc starts the process described by s. It does not wait for the
// server to be ready.
func startProc(s procSpec) (*proc, error) {
	stateMu.Lock()
	stop := stopping
	stateMu.Unlock()
	if stop {
		return nil, fmt.Errorf("%s: not started: the test process is shutting down", s.name)
	}
	out := filepath.Join(s.dir, filepath.Base(s.argv[0])+".out")
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true, // a terminal's ^C reaches us, and Main stops the servers
		Pdeathsig:  s.quitSig,
		Credential: s.cred,
	}
	err = spawn(cmd)
	f.Close() // the child has its own copy
	if err != nil {
		return nil, fmt.Errorf("%s: start: %w", s.name, err)
	}
	p := &proc{procSpec: s, cmd: cmd, out: out, exited: make(chan struct{})}
	stateMu.Lock()
	live[p] = true
	stateMu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		stateMu.Lock()
		delete(live, p)
		stateMu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// serverEnv is the environment for servers: ours without libpq's PG*
// variables, which would change what the PostgreSQL tools do.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process if it still runs.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.running() {
		return nil
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// waitExit waits until the process has been reaped, at most d.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends sig (then SIGCONT, in case the process is frozen) and waits
// for the process to exit; after waitTimeout it sends SIGKILL.
func (p *proc) stop(sig syscall.Signal) error {
	if !p.running() {
		return nil
	}
	_ = p.signal(sig)
	if sig != syscall.SIGKILL {
		_ = p.signal(syscall.SIGCONT)
	}
	if p.waitExit(waitTimeout) {
		return nil
	}
	_ = p.signal(syscall.SIGKILL)
	if p.waitExit(5 * time.Second) {
		return fmt.Errorf("%s (pid %d) ignored %v for %v and was killed", p.name, p.pid(), sig, waitTimeout)
	}
	return fmt.Errorf("%s (pid %d) did not exit after %v and SIGKILL", p.name, p.pid(), sig)
}

// exitError describes why a process that should be running is not.
func (p *proc) exitError() error {
	return fmt.Errorf("%s exited during start-up (%v)%s", p.name, p.waitErr, p.logTail())
}

// logTail returns the last lines of the process's output and log files,
// formatted to follow an error message.
func (p *proc) logTail() string {
	var b strings.Builder
	for _, f := range append([]string{p.out}, p.logs...) {
		data, err := os.ReadFile(f)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- last lines of %s:\n%s", f, strings.Join(lines, "\n"))
	}
	return b.String()
}

// addrInUse reports whether the process's logs say its port was taken.
func (p *proc) addrInUse() bool { return strings.Contains(p.logTail(), "Address already in use") }

// waitReady polls ready until it succeeds, the process exits, or
// waitTimeout passes.
func (p *proc) waitReady(ready func() error) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		if !p.running() {
			return p.exitError()
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) not ready after %v: %v%s", p.name, p.pid(), waitTimeout, err, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errAddrInUse marks a start that failed only because the port was taken:
// the caller retries on another port.
var errAddrInUse = errors.New("address already in use")

// startOnPort starts a server with attempt(port) on a free port, retrying
// on another port when the chosen one turns out to be taken.
func startOnPort(bus bool, attempt func(port int) (*proc, error)) (*proc, int, error) {
	var last error
	for range 8 {
		port, err := freePort(bus)
		if err != nil {
			return nil, 0, err
		}
		p, err := attempt(port)
		if err == nil {
			return p, port, nil
		}
		if !errors.Is(err, errAddrInUse) {
			return nil, 0, err
		}
		last = err
	}
	return nil, 0, fmt.Errorf("no free port after 8 attempts: %w", last)
}

// readyOrRetry waits for p to be ready; if it exited because its port was
// taken, it returns errAddrInUse so that startOnPort picks another.
func readyOrRetry(p *proc, ready func() error) error {
	err := p.waitReady(ready)
	if err == nil {
		return nil
	}
	_ = p.stop(syscall.SIGKILL)
	if p.addrInUse() {
		return fmt.Errorf("%s: %w", p.name, errAddrInUse)
	}
	return err
}

var (
	portMu   sync.Mutex
	usedPort = map[int]bool{} // ports this process handed out: never twice
)

// freePort returns a port of 127.0.0.1 that was free a moment ago (the
// kernel's pick for port 0) and that this process has not handed out
// before. With bus, port+10000 (Redis Cluster's bus port) is free too.
func freePort(bus bool) (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := !usedPort[port]
		if ok && bus {
			ok = false
			if port+10000 <= 65535 && !usedPort[port+10000] {
				if lb, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
					lb.Close()
					ok = true
				}
			}
		}
		l.Close()
		if ok {
			usedPort[port] = true
			if bus {
				usedPort[port+10000] = true
			}
			return port, nil
		}
	}
	return 0, errors.New("free port: none found in 200 tries")
}

// waitRefused waits until nothing accepts connections on addr.
func waitRefused(addr string) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still accepts connections after %v", addr, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procState returns the state letter of /proc/pid/stat ('R', 'S', 'T',
// 'Z', ...) or 0 when the process does not exist.
func procState(pid int) byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// processAlive reports whether pid exists and is not a zombie. (kill -0
// is not enough: an orphan stays a zombie for seconds on these machines.)
func processAlive(pid int) bool {
	s := procState(pid)
	return s != 0 && s != 'Z' && s != 'X'
}

// waitState waits until the process's state satisfies ok.
func waitState(p *proc, what string, ok func(state byte) bool) error {
	deadline := time.Now().Add(waitTimeout)
	for !ok(procState(p.pid())) {
		if !p.running() {
			return fmt.Errorf("%s (pid %d) exited while waiting for it to be %s", p.name, p.pid(), what)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) not %s after %v", p.name, p.pid(), what, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// lookBinary finds name on PATH, then in the extra directories.
func lookBinary(name string, extra ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range extra {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
