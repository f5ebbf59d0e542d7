package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// testBroker publishes on one store and receives on another (two
// clients, one server or cluster), within 1 s.
func testBroker(t *testing.T, pub, sub *redisstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sub.Subscribe(ctx, "session.h1", "user.h2")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"session.h1", "user.h2"} {
		want := "event for " + topic
		if err := pub.Publish(tctx(t), topic, []byte(want)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if string(got) != want {
				t.Errorf("received %q, want %q", got, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("nothing received on %s within 1 s", topic)
		}
	}
	if err := pub.Publish(tctx(t), "other", []byte("x")); err != nil {
		t.Fatal(err)
	}

	// A reader that does not read never blocks the publisher.
	start := time.Now()
	for i := range 5 * redisstore.SubscriptionBuffer {
		if err := pub.Publish(tctx(t), "user.h2", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d publishes to an unread subscription: %v", 5*redisstore.SubscriptionBuffer, time.Since(start).Round(time.Millisecond))

	time.Sleep(100 * time.Millisecond) // let them arrive while nobody reads
	cancel()
	deadline := time.After(2 * time.Second)
	n := 0
	for {
		select {
		case m, open := <-ch:
			if !open {
				// How many got through depends on timing (messages still in
				// flight when reading starts); what matters is that the
				// publisher never waited, and nothing is duplicated.
				t.Logf("%d of %d messages kept for the slow reader (buffer %d)", n, 5*redisstore.SubscriptionBuffer, redisstore.SubscriptionBuffer)
				if n > 5*redisstore.SubscriptionBuffer {
					t.Errorf("received %d messages, more than were published", n)
				}
				return
			}
			if string(m) == "x" {
				t.Error("received a message of a topic not subscribed to")
			}
			n++
		case <-deadline:
			t.Fatal("channel not closed 2 s after the context ended")
		}
	}
}

func TestBroker(t *testing.T) {
	prefix := testserver.Prefix(t)
	mk := func() *redisstore.Store {
		s, err := redisstore.New(newClient(t), redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testBroker(t, mk(), mk())
}

func TestBrokerCluster(t *testing.T) {
	prefix := testserver.Prefix(t)
	mk := func() *redisstore.Store {
		s, err := redisstore.New(newClusterClient(t), redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testBroker(t, mk(), mk())
}

func TestBrokerInvalidTopic(t *testing.T) {
	s := newStore(t, newClient(t))
	for _, topic := range []string{"", "a b", "{tag}", "a*", "x\n", string(make([]byte, redisstore.MaxTopicLen+1))} {
		if err := s.Publish(tctx(t), topic, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Publish(%q): %v, want ErrInvalid", topic, err)
		}
		if _, err := s.Subscribe(tctx(t), topic); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Subscribe(%q): %v, want ErrInvalid", topic, err)
		}
	}
}

// Channel names are {prefix}events:{topic}: a plain client sees them.
func TestBrokerChannelName(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c)
	ps := c.Subscribe(tctx(t), testserver.Prefix(t)+"events:t1")
	defer ps.Close()
	if _, err := ps.Receive(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(tctx(t), "t1", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := ps.ReceiveTimeout(tctx(t), time.Second)
	if msg, ok := m.(*redis.Message); err != nil || !ok || msg.Payload != "hi" {
		t.Fatalf("plain subscriber got %v, %v", m, err)
	}
}
