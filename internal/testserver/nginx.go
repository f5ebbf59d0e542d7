package testserver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nginxMissing = "no nginx binary (apt-get install nginx)"

// StartNginx starts nginx as a round-robin HTTP balancer on a free port of
// 127.0.0.1 in front of upstreams (host:port each), owned by t and stopped
// at its cleanup, and returns its address. Streams pass unbuffered (server-
// sent events), and the client's address travels in X-Forwarded-For.
func StartNginx(t testing.TB, upstreams ...string) string {
	t.Helper()
	bin, ok := lookBinary("nginx")
	if !ok {
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			bin, ok = "/usr/sbin/nginx", true
		}
	}
	if !ok {
		Unavailable(t, "%s", nginxMissing)
	}
	dir, err := subDir("nginx")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("testserver: %v", err)
		}
	}
	var ups strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&ups, "    server %s;\n", u)
	}
	p, port, err := startOnPort(false, func(port int) (*proc, error) {
		conf := filepath.Join(dir, "nginx.conf")
		cfg := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  upstream app {
%[2]s    keepalive 64;
  }
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_next_upstream off;
    }
  }
}
`, dir, ups.String(), port)
		if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		spec := procSpec{
			name:    fmt.Sprintf("nginx 127.0.0.1:%d", port),
			argv:    []string{bin, "-p", dir, "-c", conf},
			dir:     dir,
			logs:    []string{filepath.Join(dir, "logs", "error.log")},
			quitSig: syscall.SIGKILL,
		}
		p, err := startProc(spec)
		if err != nil {
			return nil, err
		}
		return p, readyOrRetry(p, func() error {
			c, err := net.DialTimeout("tcp", localAddr(port), time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		})
	})
	if err != nil {
		t.Fatalf("testserver: nginx: %v", err)
	}
	t.Cleanup(func() { _ = p.stop(syscall.SIGKILL) })
	t.Logf("testserver: started nginx %s in front of %v", localAddr(port), upstreams)
	return localAddr(port)
}
