package testserver

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a server to start, stop or change state.
// Starts take well under a second on an idle machine, but several seconds on
// a 2-core machine that also compiles and runs other packages' tests.
const waitTimeout = 60 * time.Second

// dirPrefix names the per-process directory; the pid that follows lets a
// later run remove directories of dead runs.
const dirPrefix = "sessions-testserver-"

// tempBases are where the per-process directory may go: /dev/shm first
// (memory: PostgreSQL's data directories are copied and written without
// waiting for a disk another build keeps busy), then os.TempDir().
func tempBases() []string { return []string{"/dev/shm", os.TempDir()} }

// Main runs the tests and then stops every server this process started and
// removes their directories. Use it in TestMain:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
// It also stops the servers when the process gets SIGINT or SIGTERM.
func Main(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "testserver: got %v, stopping servers\n", s)
		shutdown()
		os.Exit(2)
	}()
	code := m.Run()
	signal.Stop(sigs)
	shutdown()
	os.Exit(code)
}

// Required reports whether CI or REQUIRE_SERVICES is set (to anything but
// "", "0", "false" or "no"). Then a missing server fails the test instead of
// skipping it.
func Required() bool { return truthy(os.Getenv("CI")) || truthy(os.Getenv("REQUIRE_SERVICES")) }

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Unavailable skips t with the reason, or fails it (t.Fatalf) when
// [Required] reports true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("testserver: %s (failing instead of skipping: CI or REQUIRE_SERVICES is set)", msg)
	}
	t.Skipf("testserver: %s", msg)
}

// outcome is what a shared server's one-time start produced: nothing to do,
// a reason to skip (missing binary or unreachable configured server), or an
// error that fails every test asking for it.
type outcome struct {
	skip string
	err  error
	msg  string // what was done, for the log of the test that did it
}

// startOnce runs start once for all tests and logs, to the test that ran
// it, what it did and how long it took.
func startOnce(t testing.TB, once *sync.Once, out *outcome, start func() outcome) {
	t.Helper()
	once.Do(func() {
		t0 := time.Now()
		*out = start()
		if out.msg != "" {
			t.Logf("testserver: %s (%v)", out.msg, time.Since(t0).Round(time.Millisecond))
		}
	})
}

// check reports the outcome to t; it returns only when the server is usable.
func (o outcome) check(t testing.TB) {
	t.Helper()
	switch {
	case o.skip != "":
		Unavailable(t, "%s", o.skip)
	case o.err != nil:
		t.Fatalf("testserver: %v", o.err)
	}
}

var (
	stateMu   sync.Mutex
	rootDir   string             // per-process directory, created on first use
	live      = map[*proc]bool{} // every process running now, shared or dedicated
	finalizer []func()           // shared resources' stop functions, run by shutdown
	stopping  bool               // shutdown has begun: start nothing new
)

// processDir returns the per-process root directory (mode 0755, so that the
// postgres user can traverse it), creating it and sweeping directories of
// dead processes on first use.
func processDir() (string, error) {
	stateMu.Lock()
	defer stateMu.Unlock()
	if rootDir != "" {
		return rootDir, nil
	}
	sweepStale()
	var err error
	for _, base := range tempBases() {
		var st syscall.Statfs_t
		if syscall.Statfs(base, &st) != nil || uint64(st.Bavail)*uint64(st.Bsize) < 1<<30 {
			continue // missing, or less than 1 GiB free
		}
		var d string
		if d, err = os.MkdirTemp(base, dirPrefix+strconv.Itoa(os.Getpid())+"-"); err != nil {
			continue
		}
		if err = os.Chmod(d, 0o755); err != nil { // the postgres user must traverse it
			_ = os.Remove(d)
			continue
		}
		rootDir = d
		return d, nil
	}
	if err == nil {
		err = fmt.Errorf("no temporary directory with 1 GiB free among %v", tempBases())
	}
	return "", err
}

// sweepStale removes directories left by test processes that no longer
// exist (killed, timed out, or without Main). Their servers died with them
// through the parent-death signal.
func sweepStale() {
	var matches []string
	for _, base := range tempBases() {
		m, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
		matches = append(matches, m...)
	}
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), dirPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(m)
	}
}

// subDir makes a fresh directory (mode 0755) under the process directory.
func subDir(name string) (string, error) {
	root, err := processDir()
	if err != nil {
		return "", err
	}
	d, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o755)
}

// atShutdown registers f to run (in reverse order) when Main finishes.
func atShutdown(f func()) {
	stateMu.Lock()
	defer stateMu.Unlock()
	finalizer = append(finalizer, f)
}

// shutdown stops shared resources, then any process still running, and
// removes the process directory. It is idempotent.
func shutdown() {
	stateMu.Lock()
	stopping = true
	fs := finalizer
	finalizer = nil
	stateMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	stateMu.Lock()
	procs := make([]*proc, 0, len(live))
	for p := range live {
		procs = append(procs, p)
	}
	stateMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(p.quitSig); err != nil {
				fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
			}
		}()
	}
	wg.Wait()
	stateMu.Lock()
	d := rootDir
	stateMu.Unlock()
	if d != "" {
		_ = os.RemoveAll(d)
	}
}
