package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// The cross-tab stream. Every session event is published on a broker
// topic of its session ("s:" + handle) and, for logged-in users, an
// "activity" notice on the user's topic ("u:" + a hash of the user id).
// GET /api/events streams both to the browser as Server-Sent Events; the
// page's script re-renders or leaves on them. The broker is Redis pub/sub
// when Redis is configured (so tabs served by different instances stay in
// sync) and an in-process one otherwise.

// streamKinds are the session events a tab acts on.
var streamKinds = map[ginsession.EventKind]bool{
	ginsession.EventPlatformSwitched: true,
	ginsession.EventLogout:           true,
	ginsession.EventRevoked:          true,
	ginsession.EventEvicted:          true,
	ginsession.EventRotated:          true,
}

// streamMsg is what travels on the broker and, as the SSE data, to the
// browser. It holds handles and kinds, never tokens.
type streamMsg struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
	Time   string `json:"time"`
}

func sessionTopic(handle string) string { return "s:" + handle }

// userTopic hashes the user id, so no raw id (which could hold any byte)
// forms a topic.
func userTopic(userID string) string {
	sum := sha256.Sum256([]byte("example/user\x00" + userID))
	return "u:" + hex.EncodeToString(sum[:16])
}

// publisher hands events to the broker on its own goroutine: OnEvent
// handlers run on the request's goroutine and must not wait for Redis.
type publisher struct {
	broker  store.Broker
	q       chan ginsession.Event
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newPublisher(b store.Broker) *publisher {
	p := &publisher{broker: b, q: make(chan ginsession.Event, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Handle is a ginsession.EventHandler; it never blocks.
func (p *publisher) Handle(ev ginsession.Event) {
	select {
	case p.q <- ev:
	default:
		p.dropped.Add(1)
	}
}

func (p *publisher) run() {
	defer close(p.done)
	for {
		select {
		case ev := <-p.q:
			p.publish(ev)
		case <-p.stop:
			return
		}
	}
}

func (p *publisher) publish(ev ginsession.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	t := rfc3339(ev.Time)
	if ev.Session != "" && streamKinds[ev.Kind] {
		msg, _ := json.Marshal(streamMsg{Kind: string(ev.Kind), Detail: ev.Detail, Time: t})
		_ = p.broker.Publish(ctx, sessionTopic(ev.Session), msg)
	}
	if ev.UserID != "" {
		msg, _ := json.Marshal(streamMsg{Kind: "activity", Detail: string(ev.Kind), Time: t})
		_ = p.broker.Publish(ctx, userTopic(ev.UserID), msg)
	}
}

// Close stops the publisher; events still queued are dropped.
func (p *publisher) Close() error {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return nil
}

// localBroker is an in-process store.Broker for a single instance.
type localBroker struct {
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{}
}

var _ store.Broker = (*localBroker)(nil)

func newLocalBroker() *localBroker { return &localBroker{subs: map[string]map[chan []byte]struct{}{}} }

// Publish delivers msg to the topic's current subscribers, dropping it for
// any whose buffer is full.
func (b *localBroker) Publish(_ context.Context, topic string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[topic] {
		select {
		case ch <- msg:
		default:
		}
	}
	return nil
}

// Subscribe delivers messages of topics until ctx ends.
func (b *localBroker) Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error) {
	if len(topics) == 0 {
		return nil, fmt.Errorf("subscribe: %w: no topic", store.ErrInvalid)
	}
	ch := make(chan []byte, 64)
	b.mu.Lock()
	for _, t := range topics {
		if b.subs[t] == nil {
			b.subs[t] = map[chan []byte]struct{}{}
		}
		b.subs[t][ch] = struct{}{}
	}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		for _, t := range topics {
			delete(b.subs[t], ch)
			if len(b.subs[t]) == 0 {
				delete(b.subs, t)
			}
		}
		b.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// heartbeat keeps idle streams (and proxies in between) alive.
const heartbeat = 15 * time.Second

// GET /api/events: Server-Sent Events for this session.
func (a *App) events(c *gin.Context) {
	s := ginsession.Current(c)
	info, ok, err := s.Info()
	switch {
	case err != nil:
		a.storeDown(c, "events", err)
		return
	case !ok:
		errorJSON(c, http.StatusUnauthorized, "no session: load the page first")
		return
	}
	topics := []string{sessionTopic(info.Handle)}
	if info.UserID != "" {
		topics = append(topics, userTopic(info.UserID))
	}
	ctx, cancel := context.WithCancel(c.Request.Context())
	defer cancel()
	stop := context.AfterFunc(a.streams, cancel) // app shutdown ends every stream
	defer stop()
	msgs, err := a.broker.Subscribe(ctx, topics...)
	if err != nil {
		a.log.Warn("events: subscribe", "err", err)
		errorJSON(c, http.StatusServiceUnavailable, "event stream unavailable")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	// The first bytes: a reconnect delay for the browser, and a hello that
	// carries the session's handle.
	fmt.Fprintf(c.Writer, "retry: 1000\nevent: hello\ndata: {\"session\":%q}\n\n", info.Handle)
	c.Writer.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(c.Writer, ": keep-alive\n\n"); err != nil {
				return
			}
			c.Writer.Flush()
		case raw, ok := <-msgs:
			if !ok {
				return
			}
			var m streamMsg
			if json.Unmarshal(raw, &m) != nil || !validEventName(m.Kind) {
				continue
			}
			data, _ := json.Marshal(m) // one line, whatever the broker carried
			if _, err := fmt.Fprintf(c.Writer, "event: %s\ndata: %s\n\n", m.Kind, data); err != nil {
				return
			}
			c.Writer.Flush()
		}
	}
}

// validEventName: an SSE event name must not carry a line break; ours are
// lower-case words.
func validEventName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '_' {
			return false
		}
	}
	return true
}
