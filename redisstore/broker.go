package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// MaxTopicLen is the longest accepted pub/sub topic, in bytes.
const MaxTopicLen = 128

// SubscriptionBuffer is how many messages a subscription holds for a slow
// reader; further messages are dropped until it catches up.
const SubscriptionBuffer = 64

// channel is the Redis channel of a topic: the namespace, "events:", then
// the topic (see SessionKeyPrefix for the namespace).
func (s *Store) channel(op, topic string) (string, error) {
	if err := validName("topic", topic, MaxTopicLen); err != nil {
		return "", fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrInvalid, err)
	}
	return s.events + topic, nil
}

// Publish sends msg on the topic's channel, {namespace}events:{topic}. On a
// Cluster it uses sharded pub/sub (SPUBLISH, Redis 7), so a message
// travels only within the shard that owns the channel instead of being
// broadcast over the whole cluster bus. A topic is printable ASCII without
// spaces, braces or '*', at most MaxTopicLen bytes (store.ErrInvalid
// otherwise). Having no subscriber is not an error.
func (s *Store) Publish(ctx context.Context, topic string, msg []byte) error {
	ch, err := s.channel("publish", topic)
	if err != nil {
		return err
	}
	if s.cluster {
		err = s.c.SPublish(ctx, ch, msg).Err()
	} else {
		err = s.c.Publish(ctx, ch, msg).Err()
	}
	if err != nil {
		return wrap("publish", err)
	}
	return nil
}

// Subscribe delivers the messages published to any of topics, from the
// moment it returns (the subscriptions are confirmed by the server first),
// until ctx is done; then it closes the channel. A reader that falls
// SubscriptionBuffer messages behind misses messages: publishers and the
// connection never wait for it. go-redis reconnects and resubscribes
// after a connection loss; messages published meanwhile are lost. On a
// Cluster each topic gets its own sharded subscription (SSUBSCRIBE on the
// node that owns it).
func (s *Store) Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error) {
	if len(topics) == 0 {
		return nil, fmt.Errorf("redisstore: subscribe: %w: no topic", store.ErrInvalid)
	}
	chans := make([]string, len(topics))
	for i, t := range topics {
		ch, err := s.channel("subscribe", t)
		if err != nil {
			return nil, err
		}
		chans[i] = ch
	}
	var subs []*redis.PubSub
	closeAll := func() {
		for _, ps := range subs {
			_ = ps.Close()
		}
	}
	if s.cluster {
		for _, ch := range chans {
			subs = append(subs, s.c.SSubscribe(ctx, ch))
		}
	} else {
		subs = append(subs, s.c.Subscribe(ctx, chans...))
	}
	out := make(chan []byte, SubscriptionBuffer)
	for _, ps := range subs {
		// Wait for the server to confirm every channel of this
		// subscription; a message that overtakes a confirmation is kept.
		want := 1
		if !s.cluster {
			want = len(chans)
		}
		for want > 0 {
			m, err := ps.Receive(ctx)
			if err != nil {
				closeAll()
				return nil, wrap("subscribe", err)
			}
			switch m := m.(type) {
			case *redis.Subscription:
				want--
			case *redis.Message:
				select {
				case out <- []byte(m.Payload):
				default:
				}
			}
		}
	}
	done := make(chan struct{}, len(subs))
	for _, ps := range subs {
		go func() {
			defer func() { done <- struct{}{} }()
			for m := range ps.Channel() {
				select {
				case out <- []byte(m.Payload):
				default: // slow reader: drop
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		closeAll()
		for range subs {
			<-done
		}
		close(out)
	}()
	return out, nil
}
