package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vedfolnir/sessions/store"
)

// SubscriptionBuffer is how many messages a LocalBroker subscription holds
// for a slow reader; further messages are dropped for it until it catches
// up. Publishers never wait.
const SubscriptionBuffer = 64

// MaxTopicLen is the longest topic a LocalBroker accepts, in bytes (the
// same bound as the Redis store's).
const MaxTopicLen = 128

// LocalBroker is a store.Broker inside one process, for apps that run a
// single instance without Redis: the cross-tab stream then works the same,
// only without crossing instances. Safe for concurrent use; the zero value
// is not usable, use [NewLocalBroker].
type LocalBroker struct {
	mu     sync.RWMutex
	topics map[string]map[*localSub]struct{}
	n      int
}

type localSub struct {
	ch     chan []byte
	topics []string
}

var _ store.Broker = (*LocalBroker)(nil)

// NewLocalBroker returns an empty LocalBroker. It returns the concrete type
// (which implements store.Broker) so that tests and health checks can ask
// [LocalBroker.Subscribers].
func NewLocalBroker() *LocalBroker {
	return &LocalBroker{topics: make(map[string]map[*localSub]struct{})}
}

// checkTopic refuses an empty, long or non-printable topic (store.ErrInvalid).
func checkTopic(op, topic string) error {
	if topic == "" || len(topic) > MaxTopicLen {
		return fmt.Errorf("live: %s: %w: topic must be 1 to %d bytes", op, store.ErrInvalid, MaxTopicLen)
	}
	for i := 0; i < len(topic); i++ {
		if c := topic[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("live: %s: %w: topic byte %d is not printable ASCII", op, store.ErrInvalid, i)
		}
	}
	return nil
}

// Publish delivers a copy of msg to every current subscriber of topic,
// without waiting: a subscriber whose buffer is full misses it. Having no
// subscriber is not an error. Subscribers share the copy and must not
// modify it.
func (b *LocalBroker) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := checkTopic("publish", topic); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("live: publish: %w", err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	subs := b.topics[topic]
	if len(subs) == 0 {
		return nil
	}
	m := bytes.Clone(msg)
	for s := range subs {
		select {
		case s.ch <- m:
		default: // slow reader: drop
		}
	}
	return nil
}

// Subscribe delivers the messages published to any of topics from the
// moment it returns until ctx is done; then it closes the channel. A topic
// listed twice is delivered once.
func (b *LocalBroker) Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error) {
	if len(topics) == 0 {
		return nil, fmt.Errorf("live: subscribe: %w: no topic", store.ErrInvalid)
	}
	for _, t := range topics {
		if err := checkTopic("subscribe", t); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("live: subscribe: %w", errors.Join(store.ErrUnavailable, err))
	}
	s := &localSub{ch: make(chan []byte, SubscriptionBuffer), topics: topics}
	b.mu.Lock()
	for _, t := range topics {
		set := b.topics[t]
		if set == nil {
			set = make(map[*localSub]struct{})
			b.topics[t] = set
		}
		set[s] = struct{}{}
	}
	b.n++
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		for _, t := range s.topics {
			if set := b.topics[t]; set != nil {
				delete(set, s)
				if len(set) == 0 {
					delete(b.topics, t)
				}
			}
		}
		b.n--
		close(s.ch) // under the lock: no Publish is sending to it
		b.mu.Unlock()
	}()
	return s.ch, nil
}

// Subscribers returns the number of live subscriptions.
func (b *LocalBroker) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.n
}
