package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/storage"
)

// Reporter gives the health report the handler serves;
// *storage.Storage is one.
type Reporter interface {
	Health(ctx context.Context) storage.Health
}

// Options configures [Handler]. The zero value works.
type Options struct {
	// CacheFor is how long a report is reused, so health scrapes cannot
	// hammer the stores. Default 1s.
	CacheFor time.Duration
	// DisableCache checks on every request. Default false.
	DisableCache bool
	// Now is the clock of the cache. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.CacheFor <= 0 {
		o.CacheFor = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Handler returns a gin handler serving r's report as JSON, with
// Cache-Control: no-store: 200 while sessions can be served (ok or
// degraded), 503 when they cannot ([storage.Health.HTTPStatus]). One report
// is built at a time, and reused for Options.CacheFor; a report cut short
// by a client that went away is not reused. It panics on a nil r, at
// start-up.
func Handler(r Reporter, opts Options) gin.HandlerFunc {
	if r == nil {
		panic(fmt.Errorf("health: Handler: nil Reporter"))
	}
	c := &cache{r: r, opts: opts.withDefaults()}
	return func(gc *gin.Context) {
		h := c.get(gc.Request.Context())
		gc.Header("Cache-Control", "no-store")
		gc.JSON(h.HTTPStatus(), h)
	}
}

// cache holds the last report.
type cache struct {
	r    Reporter
	opts Options

	mu     sync.Mutex // held while a report is built: one check at a time
	last   storage.Health
	lastAt time.Time
	have   bool
}

func (c *cache) get(ctx context.Context) storage.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.have && !c.opts.DisableCache && now.Sub(c.lastAt) < c.opts.CacheFor {
		return c.last
	}
	h := c.r.Health(ctx)
	if ctx.Err() == nil {
		c.last, c.lastAt, c.have = h, now, true
	}
	return h
}
