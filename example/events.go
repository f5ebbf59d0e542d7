package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/platform"
	"github.com/vedfolnir/sessions/store"
)

// The cross-tab stream is ginsession/live: every session event goes
// through a live.Publisher to the broker (Redis pub/sub when Redis is
// configured, so tabs served by different instances stay in step, else an
// in-process broker), and GET /api/events streams a session's events to
// its tabs. The page's script (web/static/app.js, on live.js) re-renders
// on a platform switch and leaves for the login page on logout or
// revocation.

// eventsHandler is live.Handler, with streams ended by App.Shutdown, so a
// graceful server shutdown does not wait for open streams.
func (a *App) eventsHandler() gin.HandlerFunc {
	h := live.Handler(a.broker, live.Options{Logger: a.log, Heartbeat: a.cfg.streamHeartbeat})
	return func(c *gin.Context) {
		ctx, cancel := context.WithCancel(c.Request.Context())
		defer cancel()
		stop := context.AfterFunc(a.streams, cancel)
		defer stop()
		c.Request = c.Request.WithContext(ctx)
		h(c)
	}
}

// stateHandler is live.StateHandler: what the script refetches after a
// reconnection.
func (a *App) stateHandler() gin.HandlerFunc {
	return live.StateHandler(live.Options{Logger: a.log, Platform: func(c *gin.Context) any {
		if pc, ok := platform.From(c); ok {
			return pc
		}
		return nil
	}})
}

// dualBroker carries events through Redis pub/sub (to other instances)
// and an in-process broker (to this one), so the tabs this instance serves
// stay in step even while Redis is down, in hybrid mode. A subscriber gets
// a message once: the copy that arrives second, by the other path, is
// recognised by its bytes and dropped.
type dualBroker struct {
	remote store.Broker
	local  *live.LocalBroker
	log    *slog.Logger
}

var _ store.Broker = (*dualBroker)(nil)

// Publish sends msg on both paths. It fails only when both fail.
func (b *dualBroker) Publish(ctx context.Context, topic string, msg []byte) error {
	lerr := b.local.Publish(ctx, topic, msg)
	rerr := b.remote.Publish(ctx, topic, msg)
	if lerr != nil && rerr != nil {
		return errors.Join(lerr, rerr)
	}
	return nil
}

// dedupWindow is how many recent messages a subscription remembers.
const dedupWindow = 64

// Subscribe follows topics on both paths; without Redis, on the local one
// only (other instances' events are then missed until the client
// reconnects).
func (b *dualBroker) Subscribe(ctx context.Context, topics ...string) (<-chan []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	local, err := b.local.Subscribe(ctx, topics...)
	if err != nil {
		cancel()
		return nil, err
	}
	remote, err := b.remote.Subscribe(ctx, topics...)
	if err != nil {
		b.log.Warn("events: Redis subscription failed; this stream gets this instance's events only", "err", err)
		remote = nil
	}
	out := make(chan []byte, dedupWindow)
	go func() {
		defer cancel()
		defer close(out)
		seen := make([]string, 0, dedupWindow)
		for local != nil || remote != nil {
			var msg []byte
			var ok bool
			select {
			case msg, ok = <-local:
				if !ok {
					local = nil
					continue
				}
			case msg, ok = <-remote:
				if !ok {
					remote = nil
					continue
				}
			case <-ctx.Done():
				return
			}
			if slices.Contains(seen, string(msg)) {
				continue
			}
			if len(seen) == dedupWindow {
				seen = seen[1:]
			}
			seen = append(seen, string(msg))
			select {
			case out <- msg:
			default: // a slow reader misses messages, as with either broker
			}
		}
	}()
	return out, nil
}
