package main

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// TestCrossInstanceEvents: two app instances share Redis and PostgreSQL;
// a platform switch made through one reaches a tab streaming from the
// other, exactly once.
func TestCrossInstanceEvents(t *testing.T) {
	vars := map[string]string{
		envAddr: "127.0.0.1:0", envStorage: modeHybrid, envRedisURL: redisURL(t),
		"REDIS_SESSION_PREFIX": testserver.Prefix(t), envDatabaseURL: testserver.Postgres(t),
		"SESSION_ENCRYPTION_KEYS": store.GenerateKey(),
	}
	varsA, varsB := map[string]string{envDataDir: t.TempDir()}, map[string]string{envDataDir: t.TempDir()}
	for k, v := range vars {
		varsA[k], varsB[k] = v, v
	}
	a, b := startApp(t, varsA), startApp(t, varsB)
	onA := a.client(t, "")
	onA.login("alice")
	// The same browser on instance B (cookies are per host, not per port).
	onB := &client{t: t, e: b, hc: &http.Client{Jar: onA.hc.Jar}}
	if s := onB.state(); !s.Authenticated {
		t.Fatal("instance B does not know the session")
	}
	events := onA.stream(t)
	if r := onB.do("POST", "/api/platform", map[string]int{"platform_connection_id": 1}, csrfValid); r.status != 200 {
		t.Fatalf("switch on B: %d %s", r.status, r.body)
	}
	if ev := next(t, events); ev.name != "platform_switched" || ev.data.Detail != "1" {
		t.Fatalf("A's tab got %+v", ev)
	}
	select {
	case ev := <-events:
		t.Fatalf("a second copy: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDualBroker: both paths deliver, a message arrives once, and the
// local path works with Redis gone.
func TestDualBroker(t *testing.T) {
	rp := testserver.StartRedis(t)
	rs, err := redisstore.NewFromURL("redis://"+rp.Addr, redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	one := &dualBroker{remote: rs, local: live.NewLocalBroker(), log: discard}
	two := &dualBroker{remote: rs, local: live.NewLocalBroker(), log: discard} // another instance
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subOne, err := one.Subscribe(ctx, "s.topic")
	if err != nil {
		t.Fatal(err)
	}
	subTwo, err := two.Subscribe(ctx, "s.topic")
	if err != nil {
		t.Fatal(err)
	}
	recv := func(ch <-chan []byte, want string) {
		t.Helper()
		select {
		case m := <-ch:
			if string(m) != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	none := func(ch <-chan []byte) {
		t.Helper()
		select {
		case m := <-ch:
			t.Fatalf("unexpected %q", m)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := one.Publish(ctx, "s.topic", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	recv(subOne, `{"n":1}`) // local copy
	recv(subTwo, `{"n":1}`) // through Redis
	none(subOne)            // the Redis copy of one's own message is dropped

	rp.Kill(syscall.SIGKILL)
	if err := one.Publish(ctx, "s.topic", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("publish with Redis down: %v", err)
	}
	recv(subOne, `{"n":2}`)
	none(subTwo) // the other instance cannot hear it: Redis is down
	// A subscription made while Redis is down still gets local messages.
	late, err := one.Subscribe(ctx, "s.topic")
	if err != nil {
		t.Fatal(err)
	}
	_ = one.Publish(ctx, "s.topic", []byte(`{"n":3}`))
	recv(late, `{"n":3}`)
}
