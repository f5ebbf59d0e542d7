package main

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/platform"
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
	h := live.Handler(a.broker, live.Options{Logger: a.log})
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
