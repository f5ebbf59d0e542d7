package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/vedfolnir/sessions/bench"
)

// envSecret carries the shared secret from the driver to its servers, so
// that cookies the driver made in-process open in the server.
const envSecret = "BENCH_LOAD_SECRET"

// envDatabase carries -database to the servers: in the environment, not
// on the command line, because the URL may hold a password and every user
// of the machine can read a process's arguments.
const envDatabase = "BENCH_LOAD_DATABASE"

// serve is the server process: it builds one implementation, listens on
// listen (loopback), prints "LISTEN addr" on stdout and serves until
// SIGTERM, SIGINT or the end of stdin (the driver went away).
func serve(name, listen, profileDir string, env bench.Env) error {
	if !loopback(listen) {
		return fmt.Errorf("-listen %s: loopback only", listen)
	}
	secret, err := base64.StdEncoding.DecodeString(os.Getenv(envSecret))
	if err != nil || len(secret) != 32 {
		return fmt.Errorf("%s must hold 32 bytes in base64", envSecret)
	}
	env.Secret = secret
	app, err := bench.Build(name, env)
	if err != nil {
		return err
	}
	defer app.Close()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if profileDir != "" {
		stop, err := startProfiles(profileDir, name)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv := &http.Server{Handler: app.Handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	fmt.Printf("LISTEN %s\n", l.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	stdinDone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinDone) }()
	select {
	case err := <-errc:
		return err
	case <-sigs:
	case <-stdinDone:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if app.Hybrid != nil {
		// The saturation figures of a run: on a healthy Redis every
		// engagement is spurious, and each one refills sessions from SQL.
		st := app.Hybrid.Status()
		fmt.Fprintf(os.Stderr, "load: %s: hybrid engagements %d, failovers %d, refills %d, generation %d, mirror batches %d carrying %d writes\n",
			name, st.Engagements, st.Failovers, st.Refills, st.Generation, st.MirrorBatches, st.MirrorBatched)
	}
	return nil
}

// startProfiles writes the server's CPU profile to dir/<name>.cpu.pprof
// from now until stop, and its allocation profile (every allocation since
// start) to dir/<name>.mem.pprof at stop.
func startProfiles(dir, name string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		if m, err := os.Create(filepath.Join(dir, name+".mem.pprof")); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(m, 0)
			_ = m.Close()
		}
	}, nil
}

// server is a running server process.
type server struct {
	Base  string // "http://127.0.0.1:port"
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// startServer re-executes this program with -serve name, GOMAXPROCS=procs,
// and waits for its address.
func startServer(name string, procs int, env bench.Env, secret []byte, profileDir string) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", name, "-listen", "127.0.0.1:0", "-redis", env.RedisAddr, "-prefix", env.Prefix, "-dir", env.Dir}
	if profileDir != "" {
		args = append(args, "-profile", profileDir)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs), envSecret+"="+base64.StdEncoding.EncodeToString(secret),
		envDatabase+"="+env.DatabaseURL)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "LISTEN ")
		if !ok || !loopback(addr) {
			s.stop()
			return nil, fmt.Errorf("server %s said %q", name, line)
		}
		s.Base = "http://" + addr
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("server %s exited: %v", name, err)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("server " + name + " did not start in 30s")
	}
}

// stop asks the server to finish (SIGTERM), and kills it after 10 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
