package live

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// Message is what travels on a topic and what an SSE client receives as an
// event's data. It never carries a token or a raw user id: Session is the
// non-secret handle, and Detail is the event's detail (the platform
// connection id of platform_switched, the new handle of rotated).
type Message struct {
	Kind    ginsession.EventKind `json:"kind"`
	Time    time.Time            `json:"time"`
	Session string               `json:"session,omitempty"`
	Detail  string               `json:"detail,omitempty"`
}

// DefaultKinds are the event kinds a Publisher forwards unless told
// otherwise: the ones another tab or instance must react to.
var DefaultKinds = []ginsession.EventKind{
	ginsession.EventPlatformSwitched,
	ginsession.EventLogout,
	ginsession.EventRevoked,
	ginsession.EventRotated,
	ginsession.EventEvicted,
}

// SessionTopic is the topic of one session: "s." and its handle.
func SessionTopic(handle string) string { return "s." + handle }

// UserTopic is the topic of one user: "u." and 22 characters (132 bits) of
// the base64url SHA-256 of the user id. The raw id never reaches the
// broker, and any id (any bytes, any length) makes a valid topic.
func UserTopic(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "u." + base64.RawURLEncoding.EncodeToString(sum[:])[:22]
}

// validHandle reports whether h looks like a session handle (base64url,
// 1 to 64 bytes), so nothing else can shape a topic.
func validHandle(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// PublisherOptions configures a [Publisher]. The zero value is the safe
// default.
type PublisherOptions struct {
	// QueueSize bounds the events waiting to be published; when it is
	// full, new events are dropped and counted. Default 1024.
	QueueSize int
	// Timeout bounds each publish, and Close's final drain. Default 2 s.
	Timeout time.Duration
	// Kinds are the event kinds published. Default [DefaultKinds].
	Kinds []ginsession.EventKind
	// OnDrop, when set, is told how many events were just dropped. It may
	// run on a request's goroutine: keep it fast and concurrency-safe.
	OnDrop func(n int)
	// Logger receives publish failures, at most one line per 10 s. Default
	// slog.Default().
	Logger *slog.Logger
}

// Publisher forwards session events to a [store.Broker]: each event to the
// topic of its session ([SessionTopic]) and, when it has a user, to the
// topic of its user ([UserTopic]), as a JSON [Message]. Its Handle never
// blocks. Safe for concurrent use.
type Publisher struct {
	b     store.Broker
	opts  PublisherOptions
	kinds map[ginsession.EventKind]bool
	q     chan ginsession.Event
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	closed    atomic.Bool
	pending   atomic.Int64
	published atomic.Uint64
	dropped   atomic.Uint64
	lastLog   atomic.Int64
}

var errNoBroker = errors.New("live: publisher has no broker")

// NewPublisher starts a publisher on b (a nil b drops every event, with a
// log line). Install its Handle as a session
// event consumer: ginsession.Config.OnEvent.
func NewPublisher(b store.Broker, opts PublisherOptions) *Publisher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if len(opts.Kinds) == 0 {
		opts.Kinds = DefaultKinds
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Publisher{b: b, opts: opts, kinds: map[ginsession.EventKind]bool{},
		q: make(chan ginsession.Event, opts.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}
	for _, k := range opts.Kinds {
		p.kinds[k] = true
	}
	go p.run()
	return p
}

// Handle queues ev for publishing if its kind is published. It never
// blocks: when the queue is full or the publisher is closed, the event is
// dropped and counted.
func (p *Publisher) Handle(ev ginsession.Event) {
	if !p.kinds[ev.Kind] || ev.Session == "" && ev.UserID == "" {
		return
	}
	if p.closed.Load() {
		p.drop(1, nil)
		return
	}
	p.pending.Add(1)
	select {
	case p.q <- ev:
	default:
		p.pending.Add(-1)
		p.drop(1, nil)
	}
}

// Pending returns how many accepted events are not yet published (queued
// or being sent). Zero means everything handled so far has gone out (or
// been dropped).
func (p *Publisher) Pending() int { return int(p.pending.Load()) }

// Published returns how many events were published (to at least one
// topic).
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Dropped returns how many events were dropped: queue full, publish failed
// on every topic, or after Close.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Close stops the publisher after publishing what is queued, for at most
// Timeout; the rest is dropped. Later calls do nothing.
func (p *Publisher) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		<-p.done
	})
}

func (p *Publisher) run() {
	defer close(p.done)
	for {
		select {
		case ev := <-p.q:
			p.publish(context.Background(), ev)
			p.pending.Add(-1)
		case <-p.stop:
			ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
			defer cancel()
			for n := len(p.q); n > 0; n-- {
				p.publish(ctx, <-p.q)
				p.pending.Add(-1)
			}
			return
		}
	}
}

// publish sends one event to its topics.
func (p *Publisher) publish(ctx context.Context, ev ginsession.Event) {
	if p.b == nil {
		p.drop(1, errNoBroker)
		return
	}
	msg, err := json.Marshal(Message{Kind: ev.Kind, Time: ev.Time.UTC(), Session: ev.Session, Detail: ev.Detail})
	if err != nil {
		p.drop(1, err)
		return
	}
	var topics [2]string
	n := 0
	if validHandle(ev.Session) {
		topics[n] = SessionTopic(ev.Session)
		n++
	}
	if ev.UserID != "" {
		topics[n] = UserTopic(ev.UserID)
		n++
	}
	ok := false
	var lastErr error
	for _, t := range topics[:n] {
		// One retry: after a broker restart the first command may meet a
		// connection that died with the server.
		for attempt := range 2 {
			tctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
			err := p.b.Publish(tctx, t, msg)
			cancel()
			if err == nil {
				ok = true
				break
			}
			lastErr = err
			if attempt == 0 {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
	if ok {
		p.published.Add(1)
		return
	}
	p.drop(1, lastErr)
}

func (p *Publisher) drop(n int, err error) {
	p.dropped.Add(uint64(n))
	if p.opts.OnDrop != nil {
		p.opts.OnDrop(n)
	}
	now := time.Now().UnixNano()
	last := p.lastLog.Load()
	if now-last < int64(10*time.Second) || !p.lastLog.CompareAndSwap(last, now) {
		return
	}
	args := []any{"total", p.dropped.Load()}
	if err != nil {
		args = append(args, "err", err)
	}
	p.opts.Logger.Warn("live: session events dropped", args...)
}
