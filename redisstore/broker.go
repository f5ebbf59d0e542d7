package redisstore

import (
	"context"
	"fmt"

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
func (s *Store) Publish(ctx context.Context, topic string, msg []byte) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpPublish)
	defer func() { ob.End(err) }()
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
// after a connection loss; messages published meanwhile are lost.
//
// Every subscription of the Store shares one pub/sub connection (on a
// Cluster one per shard, each subscribing with SSUBSCRIBE on the node that
// owns its channels): a channel is subscribed on the server while at least
// one local subscriber wants it, and messages fan out locally.
func (s *Store) Subscribe(ctx context.Context, topics ...string) (_ <-chan []byte, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpSubscribe)
	defer func() { ob.End(err) }()
	if len(topics) == 0 {
		return nil, fmt.Errorf("redisstore: subscribe: %w: no topic", store.ErrInvalid)
	}
	byHub := map[*hub][]string{}
	for _, t := range topics {
		ch, err := s.channel("subscribe", t)
		if err != nil {
			return nil, err
		}
		h, err := s.hubFor(ctx, ch)
		if err != nil {
			return nil, wrap("subscribe", err)
		}
		byHub[h] = append(byHub[h], ch)
	}
	sub := &hubSub{out: make(chan []byte, SubscriptionBuffer)}
	var joined []*hub
	leave := func() {
		for _, h := range joined {
			h.unsubscribe(sub, byHub[h])
		}
	}
	for h, chans := range byHub {
		if err := h.subscribe(ctx, sub, chans); err != nil {
			leave()
			return nil, wrap("subscribe", err)
		}
		joined = append(joined, h)
	}
	// The subscription ends with ctx, or when a hub closes (Close).
	subCtx, cancel := context.WithCancel(ctx)
	for _, h := range joined {
		go func() {
			select {
			case <-h.done:
				cancel()
			case <-subCtx.Done():
			}
		}()
	}
	go func() {
		<-subCtx.Done()
		cancel()
		leave()
		close(sub.out)
	}()
	return sub.out, nil
}
