package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vedfolnir/sessions/internal/testserver"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSmokeBinary proves `go run ./example` works on a fresh machine: it
// builds the real binary, starts it with an empty data directory, a free
// address and no server configured, checks it serves, then stops it with
// SIGTERM and expects a clean exit.
func TestSmokeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: skipped only under -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testserver.Unavailable(t, "no go tool on PATH: cannot build the example binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "example")
	t0 := time.Now()
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %v", time.Since(t0).Round(time.Millisecond))

	data := filepath.Join(dir, "data") // does not exist yet
	addr, adminAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin)
	// A clean environment: no REDIS_URL or DATABASE_URL a CI job may set
	// for the other tests, no session settings.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "REDIS_URL" || k == "DATABASE_URL" || strings.HasPrefix(k, "SESSION_") || strings.HasPrefix(k, "REDIS_") || strings.HasPrefix(k, "EXAMPLE_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "EXAMPLE_DATA_DIR="+data, "EXAMPLE_ADDR="+addr, "EXAMPLE_ADMIN_ADDR="+adminAddr)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	base := "http://" + addr
	var res *http.Response
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err = http.Get(base + "/api/session")
		if err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("exited before listening: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 20 s: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving %v after start", time.Since(t0).Round(time.Millisecond))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body0 := body
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"csrf_token":"`)) {
		t.Fatalf("GET /api/session: %d %s", res.StatusCode, body)
	}
	ck := res.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || strings.Contains(ck, "Secure") {
		t.Errorf("cookie %q: want HttpOnly and, on loopback plain HTTP, not Secure", ck)
	}
	res, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`id="login-form"`)) {
		t.Fatalf("GET /: %d %.300s", res.StatusCode, body)
	}
	log := out.String()
	for _, want := range []string{"SQLite", filepath.Join(data, "sessions.db"), "created a new key file", "open http://" + addr + "/", "http://" + adminAddr + "/healthz", "plain HTTP"} {
		if !strings.Contains(log, want) {
			t.Errorf("start log lacks %q:\n%s", want, log)
		}
	}
	if fi, err := os.Stat(filepath.Join(data, "session-key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}

	// The operator endpoints are on their own listener, not the public one.
	if res, err := http.Get(base + "/healthz"); err != nil || res.StatusCode != 404 {
		t.Errorf("public /healthz: %v %v, want 404", err, res)
	} else {
		res.Body.Close()
	}
	if res, err := http.Get("http://" + adminAddr + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Errorf("admin /healthz: %v %v, want 200", err, res)
	} else {
		res.Body.Close()
	}

	// Log in through the visitor CSRF token and its cookie.
	var anon struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.Unmarshal(body0, &anon)
	login, _ := http.NewRequest("POST", base+"/api/login", strings.NewReader(`{"username":"bob","password":"bob"}`))
	login.Header.Set("Content-Type", "application/json")
	login.Header.Set("X-CSRF-Token", anon.CSRF)
	login.Header.Set("Cookie", strings.Split(ck, ";")[0])
	lres, err := http.DefaultClient.Do(login)
	if err != nil || lres.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, lres)
	}
	lres.Body.Close()
	var sessCookie string
	for _, c := range lres.Cookies() {
		if !strings.HasSuffix(c.Name, "-csrf") {
			sessCookie = c.Name + "=" + c.Value
		}
	}

	// A stream is open while the server stops: shutdown must not wait for it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.Header.Set("Cookie", sessCookie)
	if stream, err := http.DefaultClient.Do(req); err != nil || stream.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, stream)
	} else {
		defer stream.Body.Close()
	}

	t0 = time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM\n%s", out.String())
	}
	t.Logf("exited 0 %v after SIGTERM", time.Since(t0).Round(time.Millisecond))
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("no shutdown line:\n%s", out.String())
	}
}
