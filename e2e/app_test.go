package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// exampleBinary builds the reference app in the root module, as
// `go run ./example` builds it, into t's temporary directory.
func exampleBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	cmd := exec.Command("go", "build", "-o", bin, "./example")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	return bin
}

// app is the reference app running as its own process.
type app struct {
	base  string // http://127.0.0.1:port
	admin string // the operator listener (/healthz, /metrics): http://127.0.0.1:port
	log   *syncBuffer
}

var (
	openLine  = regexp.MustCompile(`open (http://[0-9.:]+)/`)
	adminLine = regexp.MustCompile(`operator endpoints: (http://[0-9.:]+)/healthz`)
)

// startApp runs the reference app binary bin with the environment vars (on top of a
// minimal one: PATH and HOME only, so the tester's own REDIS_URL or
// DATABASE_URL never leak in) and waits until it listens. The process is
// stopped at t's cleanup.
func startApp(t *testing.T, bin string, vars map[string]string) *app {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "EXAMPLE_ADDR=127.0.0.1:0",
		"EXAMPLE_ADMIN_ADDR=127.0.0.1:0", "EXAMPLE_DATA_DIR=" + t.TempDir()}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	out := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, pw), io.MultiWriter(out, pw)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the example: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("example's output:\n%s", out.String())
		}
	})
	found := make(chan *app, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		a := &app{log: out}
		for sc.Scan() {
			if m := openLine.FindStringSubmatch(sc.Text()); m != nil && a.base == "" {
				a.base = m[1]
			}
			if m := adminLine.FindStringSubmatch(sc.Text()); m != nil && a.admin == "" {
				a.admin = m[1]
				found <- a // printed after the open line
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-found:
		return a
	case <-exited:
		t.Fatalf("the example exited before listening:\n%s", out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the example did not listen within 60 s:\n%s", out.String())
	}
	return nil
}

// syncBuffer collects a process's output for the test log.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// backends: SQLite alone (no servers, as on a fresh machine) and hybrid on
// a real Redis and a real PostgreSQL.
var backends = []struct {
	name string
	env  func(t *testing.T) map[string]string
}{
	{"sqlite", func(t *testing.T) map[string]string { return nil }},
	{"hybrid", func(t *testing.T) map[string]string {
		return map[string]string{
			"SESSION_STORAGE":      "hybrid",
			"REDIS_URL":            redisURL(t),
			"REDIS_SESSION_PREFIX": testserver.Prefix(t),
			"DATABASE_URL":         testserver.Postgres(t),
		}
	}},
}

// redisURL is the shared test Redis as a URL: REDIS_URL's when set, else
// the server testserver started.
func redisURL(t *testing.T) string {
	addr := testserver.Redis(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://" + addr
}

// healthURL is the instance's health report, on its operator listener.
func (a *app) healthURL() string { return a.admin + "/healthz" }
