package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// upstreamHeader is the response header in which nginx names the instance
// that answered: the driver counts requests per instance from the client's
// side, so the counts show what the balancer really did.
const upstreamHeader = "X-Upstream"

// errNoNginx is returned when no nginx binary is found, so that the smoke
// test can tell a missing binary from a failed start.
var errNoNginx = errors.New("nginx not found on PATH or in /usr/sbin: install it (apt-get install nginx)")

// nginxBinary finds nginx: on PATH, or in /usr/sbin, which a non-root PATH
// often lacks although that is where the distributions put it.
func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() {
		return "/usr/sbin/nginx", nil
	}
	return "", errNoNginx
}

// nginxProc is an nginx the driver started: one process (no master), on a
// loopback port, in its own temporary directory.
type nginxProc struct{ child }

// nginxConf is the balancer: round-robin (nginx's default) over the
// upstreams with kept-alive connections to them, as a production balancer
// runs. proxy_next_upstream off: a failed instance must show as a 502, not
// be hidden by a retry on the next one. One worker, so that nginx takes one
// of the machine's cores at most, beside the instances, Redis and the driver.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  upstream app {
%[2]s    keepalive 256;
  }
  server {
    listen 127.0.0.1:%[3]d;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_next_upstream off;
      add_header ` + upstreamHeader + ` $upstream_addr always;
    }
  }
}
`

// startNginx starts nginx on a free loopback port in front of upstreams
// (host:port each) and waits until it accepts connections.
//
// internal/testserver has StartNginx too, and bench may import it (the
// tests here do), but it is bound to a testing.TB: it skips or fails the
// test and stops nginx at the test's cleanup. The command runs outside any
// test, so it starts its own, with the same configuration plus the
// X-Upstream header.
func startNginx(upstreams []string) (*nginxProc, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	var ups strings.Builder
	for _, u := range upstreams {
		if !loopback(u) {
			return nil, fmt.Errorf("nginx upstream %s: loopback only", u)
		}
		fmt.Fprintf(&ups, "    server %s;\n", u)
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "bench-load-nginx-")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, ups.String(), port), 0o644); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		// -e: nginx opens its default error log before it reads the
		// configuration, and that file is not writable for a non-root user.
		cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		n := &nginxProc{newChild("127.0.0.1:"+strconv.Itoa(port), cmd, dir)}
		if lastErr = n.waitReady(10 * time.Second); lastErr == nil {
			return n, nil
		}
		n.stop()
	}
	return nil, fmt.Errorf("nginx did not start: %w", lastErr)
}

// waitReady dials the port until nginx accepts or exits.
func (n *nginxProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			log, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			return fmt.Errorf("nginx exited: %s", tail(string(log), 400))
		default:
		}
		if c, err := net.DialTimeout("tcp", n.Addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("nginx did not accept connections in time")
}
