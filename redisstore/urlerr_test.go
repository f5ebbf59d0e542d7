package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/redisstore"
)

// A bad REDIS_URL says what is wrong with it, never repeating it.
func TestURLErrorsExplain(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "the URL is empty"},
		{"   ", "the URL is empty"},
		{"redis://h:x", "the port is not a number"},
		{"redis://user:secretpw@h:6x79/0", "the port is not a number"},
		{"redis:///0", "no host"},
		{"localhost:6379", "scheme must be redis or rediss"},
		{"http://h:6379", "scheme must be redis or rediss"},
		{"redis+foo://h:6379", `unknown form "foo"`},
		{"redis+sentinel://h:26379", "needs master_name"},
	} {
		_, err := redisstore.NewFromURL(tc.url, redisstore.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewFromURL(%q) = %v, want %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("NewFromURL(%q): the error repeats the password: %v", tc.url, err)
		}
	}
}

// go-redis's own log lines go to the store's Logger, not the standard
// logger.
func TestGoRedisLogsThroughSlog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // a port that refuses connections
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redisstore.SetLogger(nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(buf.String(), "component=go-redis") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if out := buf.String(); !strings.Contains(out, "component=go-redis") || !strings.Contains(out, "level=WARN") {
		t.Errorf("slog output %q: want go-redis's line at WARN", out)
	}
}
