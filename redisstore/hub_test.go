package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
)

// pubsubConns counts the connections in pub/sub mode on addr.
func pubsubConns(t *testing.T, addr string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	out, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST on %s: %v", addr, err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " flags=P") {
			n++
		}
	}
	return n
}

// openStreams subscribes n times, each to a session topic of its own and
// one user topic shared by all, and checks that a message to each arrives.
func openStreams(t *testing.T, pub, sub *redisstore.Store, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	chans := make([]<-chan []byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ch, err := sub.Subscribe(ctx, fmt.Sprintf("session.s%d", i), "user.shared")
			if err != nil {
				errs <- err
				return
			}
			chans[i] = ch
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := pub.Publish(t.Context(), "user.shared", []byte("all")); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans {
		if err := pub.Publish(t.Context(), fmt.Sprintf("session.s%d", i), []byte("one")); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for len(got) < 2 {
			select {
			case m := <-ch:
				got[string(m)] = true
			case <-time.After(2 * time.Second):
				t.Fatalf("stream %d got %v within 2 s, want both messages", i, got)
			}
		}
	}
}

// 200 event streams of one process share one pub/sub connection, and
// every stream still gets its session's and its user's messages.
func TestSubscriptionsShareOneConnection(t *testing.T) {
	rp := testserver.StartRedis(t)
	mk := func() *redisstore.Store {
		s, err := redisstore.New(redis.NewClient(&redis.Options{Addr: rp.Addr}), redisstore.Options{Prefix: testserver.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	pub, sub := mk(), mk()
	openStreams(t, pub, sub, 200)
	if n := pubsubConns(t, rp.Addr); n > 1 {
		t.Errorf("200 streams use %d pub/sub connections, want 1", n)
	}
	_ = sub.Close()
	time.Sleep(100 * time.Millisecond)
	if n := pubsubConns(t, rp.Addr); n != 0 {
		t.Errorf("after Close %d pub/sub connections remain", n)
	}
}

// On a Cluster the streams share one connection per shard.
func TestSubscriptionsShareOneConnectionPerShard(t *testing.T) {
	addrs := testserver.RedisCluster(t)
	before := 0
	for _, a := range addrs {
		before += pubsubConns(t, a)
	}
	mk := func() *redisstore.Store {
		s, err := redisstore.New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), redisstore.Options{Prefix: testserver.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	pub, sub := mk(), mk()
	openStreams(t, pub, sub, 100)
	after := 0
	for _, a := range addrs {
		after += pubsubConns(t, a)
	}
	if n := after - before; n > len(addrs) {
		t.Errorf("100 streams use %d pub/sub connections on %d shards, want at most one per shard", n, len(addrs))
	}
}

// A topic whose last stream leaves and a new one joins at once is still
// subscribed on the server: the new stream gets its messages.
func TestSubscriptionChurn(t *testing.T) {
	s, err := redisstore.New(newClient(t), redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		ctx, cancel := context.WithCancel(t.Context())
		if _, err := s.Subscribe(ctx, "session.churn"); err != nil {
			t.Fatal(err)
		}
		cancel()
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	ch, err := s.Subscribe(t.Context(), "session.churn")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), "session.churn", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		if string(m) != "still here" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the last subscriber got nothing: its channel was unsubscribed after it joined")
	}
}

// A subscription outlives a Redis restart: go-redis reconnects the shared
// connection and subscribes its channels again, the subscriber hears (a
// nil message) that it may have missed messages, and a message published
// after the restart (on a client whose pooled connections died with the
// server) arrives.
func TestSubscriptionSurvivesRestart(t *testing.T) {
	rp := testserver.StartRedis(t)
	prefix := testserver.Prefix(t)
	mk := func() *redisstore.Store {
		s, err := redisstore.NewFromURL("redis://"+rp.Addr, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	pub, sub := mk(), mk()
	ch, err := sub.Subscribe(t.Context(), "session.r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), "session.r1", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if m := <-ch; string(m) != "before" {
		t.Fatalf("got %q", m)
	}
	rp.Kill(syscall.SIGKILL)
	time.Sleep(time.Second)
	rp.Restart()
	deadline := time.Now().Add(5 * time.Second)
	told := false
	for n := 0; ; n++ {
		err := pub.Publish(t.Context(), "session.r1", []byte("after"))
		select {
		case m := <-ch:
			if m == nil {
				told = true
				continue
			}
			if string(m) != "after" {
				t.Fatalf("got %q", m)
			}
			if !told {
				t.Fatal("a message after the restart, but no nil message saying messages may have been missed")
			}
			t.Logf("received after the restart on publish %d (last error %v)", n+1, err)
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing received within 5 s of the restart (last publish error %v)", err)
		}
	}
}
