package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errClosed: the Store was closed (an outage for the caller: redis.ErrClosed).
var errClosed = redis.ErrClosed

// errNoConfirm: the server did not confirm a subscription in time.
var errNoConfirm = errors.New("subscription not confirmed within " + confirmTimeout.String())

// confirmTimeout bounds the wait for a subscription's confirmation.
const confirmTimeout = 5 * time.Second

// hubSet is a Store's pub/sub connections: one hub for a standalone or
// Sentinel server, one per shard (keyed by the master's address) on a
// Cluster, where sharded pub/sub must subscribe on the node that owns the
// channel. Every subscription of the Store shares them, so a thousand open
// event streams cost one Redis connection, not a thousand.
type hubSet struct {
	mu     sync.Mutex
	hubs   map[string]*hub
	closed bool
}

// hubFor returns the hub that serves channel ch, starting it if needed.
func (s *Store) hubFor(ctx context.Context, ch string) (*hub, error) {
	key := ""
	if s.cluster {
		cc, ok := s.c.(*redis.ClusterClient)
		if ok {
			node, err := cc.MasterForKey(ctx, ch)
			if err != nil {
				return nil, err
			}
			key = node.Options().Addr
		}
	}
	hs := &s.hubs
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.closed {
		return nil, errClosed
	}
	if h, ok := hs.hubs[key]; ok {
		return h, nil
	}
	if hs.hubs == nil {
		hs.hubs = make(map[string]*hub)
	}
	h := &hub{open: func(ctx context.Context, chans []string) *redis.PubSub {
		if s.cluster {
			// The connection goes to the node that owns the first
			// channel; every channel of this hub shares that node.
			return s.c.SSubscribe(ctx, chans...)
		}
		return s.c.Subscribe(ctx, chans...)
	}, sharded: s.cluster, subs: map[string]map[*hubSub]struct{}{},
		confirming: map[string]chan struct{}{}, done: make(chan struct{})}
	hs.hubs[key] = h
	return h, nil
}

// closeHubs ends every subscription and closes the connections.
func (s *Store) closeHubs() {
	hs := &s.hubs
	hs.mu.Lock()
	hubs := hs.hubs
	hs.hubs, hs.closed = nil, true
	hs.mu.Unlock()
	for _, h := range hubs {
		h.close()
	}
}

// hub fans the messages of one pub/sub connection out to local
// subscribers, and (un)subscribes channels on it as the first subscriber
// of a channel arrives and the last one leaves.
type hub struct {
	// open makes the connection, subscribed to its first channels.
	open    func(ctx context.Context, chans []string) *redis.PubSub
	ps      *redis.PubSub // nil until the first subscription
	sharded bool

	// cmd orders (un)subscribe commands as their map changes are ordered,
	// so a channel left by its last subscriber and joined again at once is
	// never unsubscribed after its new SUBSCRIBE.
	cmd sync.Mutex
	mu  sync.Mutex
	// subs holds each channel's subscribers.
	subs map[string]map[*hubSub]struct{}
	// confirming holds, per channel being subscribed, a channel closed
	// when the server confirms the subscription.
	confirming map[string]chan struct{}
	done       chan struct{}
}

// hubSub is one local subscriber: its buffered output.
type hubSub struct{ out chan []byte }

// read dispatches messages without ever waiting on a subscriber: one
// whose buffer is full misses the message, and the connection goes on.
func (h *hub) read(msgs <-chan any) {
	defer close(h.done)
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Message:
			h.mu.Lock()
			for sub := range h.subs[m.Channel] {
				select {
				case sub.out <- []byte(m.Payload):
				default:
				}
			}
			h.mu.Unlock()
		case *redis.Subscription:
			if m.Kind != "subscribe" && m.Kind != "ssubscribe" {
				continue
			}
			h.mu.Lock()
			if c, ok := h.confirming[m.Channel]; ok {
				close(c)
				delete(h.confirming, m.Channel)
			} else {
				// A confirmation nobody waits for: go-redis subscribed the
				// channel again after a lost connection. Tell its
				// subscribers they may have missed messages (store.Broker).
				for sub := range h.subs[m.Channel] {
					select {
					case sub.out <- nil:
					default:
					}
				}
			}
			h.mu.Unlock()
		}
	}
}

// subscribe adds sub to every channel of chans and returns once the server
// has confirmed each of them (they were already subscribed, or the
// confirmation arrived).
func (h *hub) subscribe(ctx context.Context, sub *hubSub, chans []string) error {
	var fresh []string
	var wait []chan struct{}
	h.cmd.Lock()
	h.mu.Lock()
	for _, ch := range chans {
		set, ok := h.subs[ch]
		if !ok {
			set = map[*hubSub]struct{}{}
			h.subs[ch] = set
			c := make(chan struct{})
			h.confirming[ch] = c
			fresh = append(fresh, ch)
		}
		set[sub] = struct{}{}
		if c, ok := h.confirming[ch]; ok {
			wait = append(wait, c)
		}
	}
	h.mu.Unlock()
	var err error
	if len(fresh) > 0 && h.ps == nil {
		first := fresh
		if h.sharded {
			first = fresh[:1]
		}
		h.ps = h.open(context.WithoutCancel(ctx), first)
		go h.read(h.ps.ChannelWithSubscriptions(redis.WithChannelSize(256)))
		fresh = fresh[len(first):]
	}
	err = h.send(ctx, true, fresh)
	h.cmd.Unlock()
	if err != nil {
		h.unsubscribe(sub, chans)
		return err
	}
	timeout := time.NewTimer(confirmTimeout)
	defer timeout.Stop()
	for _, c := range wait {
		select {
		case <-c:
		case <-ctx.Done():
			h.unsubscribe(sub, chans)
			return ctx.Err()
		case <-h.done:
			h.unsubscribe(sub, chans)
			return errClosed
		case <-timeout.C:
			h.unsubscribe(sub, chans)
			return errNoConfirm
		}
	}
	return nil
}

// unsubscribe removes sub from chans, and unsubscribes the channels no
// local subscriber needs any more.
func (h *hub) unsubscribe(sub *hubSub, chans []string) {
	var gone []string
	h.cmd.Lock()
	defer h.cmd.Unlock()
	h.mu.Lock()
	for _, ch := range chans {
		set, ok := h.subs[ch]
		if !ok {
			continue
		}
		delete(set, sub)
		if len(set) == 0 {
			delete(h.subs, ch)
			if c, ok := h.confirming[ch]; ok {
				close(c)
				delete(h.confirming, ch)
			}
			gone = append(gone, ch)
		}
	}
	h.mu.Unlock()
	if len(gone) == 0 || h.ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.send(ctx, false, gone)
}

// send (un)subscribes chans on the connection. Sharded commands name one
// channel each: SSUBSCRIBE refuses channels of different slots (CROSSSLOT),
// and the refusal would only show on the message stream.
func (h *hub) send(ctx context.Context, subscribe bool, chans []string) error {
	if len(chans) == 0 {
		return nil
	}
	if !h.sharded {
		if subscribe {
			return h.ps.Subscribe(ctx, chans...)
		}
		return h.ps.Unsubscribe(ctx, chans...)
	}
	for _, ch := range chans {
		var err error
		if subscribe {
			err = h.ps.SSubscribe(ctx, ch)
		} else {
			err = h.ps.SUnsubscribe(ctx, ch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// close closes the connection; read then ends, and subscribers' outputs
// close as their contexts end or the hub is gone.
func (h *hub) close() {
	h.cmd.Lock()
	defer h.cmd.Unlock()
	if h.ps == nil {
		close(h.done)
		return
	}
	_ = h.ps.Close()
	<-h.done
}
