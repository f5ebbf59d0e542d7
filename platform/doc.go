// Package platform keeps the user's current platform connection in the
// session and on the gin context.
//
// A user owns several connections to platforms such as Mastodon or
// Pixelfed and works in one at a time. The application supplies a
// [Loader] that answers "is connection N an active connection of user U?";
// the middleware validates the session's platform through it on each
// request (cached in process for [Options.CacheTTL]) and puts it on the
// gin context under [Key]:
//
//	r := gin.New()
//	r.Use(ginsession.New(cfg))
//	r.Use(platform.Middleware(loader))
//	r.GET("/dash", platform.Require(), func(c *gin.Context) {
//		pc := c.MustGet(platform.Key).(*platform.Context)
//		c.JSON(200, pc)
//	})
//	r.POST("/platform/:id", func(c *gin.Context) {
//		id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
//		pc, err := platform.Switch(c, id)
//		switch {
//		case errors.Is(err, platform.ErrForbidden):
//			c.JSON(403, gin.H{"error": "not your connection"})
//		case err != nil:
//			c.JSON(503, gin.H{"error": "try again"})
//		default:
//			c.JSON(200, pc)
//		}
//	})
//
// [Middleware] takes only the loader, as in the design's one-line set-up;
// [New] takes [Options] too and returns the [Manager], which the
// application also needs to [Manager.Invalidate] a connection it deletes.
// The pair mirrors ginsession.New and ginsession.NewManager.
//
// # What is stored, and what is trusted
//
// The session keeps a [Context] (id, name, type) under [SessionKey], as a
// compact msgpack array. The stored copy is only a pointer: each request
// re-validates it through the loader (or the cache), so a connection the
// application deletes, deactivates or hands to another user disappears
// from every session within CacheTTL (at once in the process that calls
// Invalidate), and a value planted in the session can name only a
// connection the user owns.
//
// # Events
//
// [Switch] emits ginsession's platform_switched with the connection id as
// Detail; [Clear], and the middleware when it drops a connection that
// failed validation, emit it with an empty Detail ("no platform"). The
// audit trail records these, and the cross-tab stream (ginsession/live)
// tells the user's other tabs to refresh.
//
// # Failure
//
// A loader outage never fails a request: the cached copy is served, even
// past its TTL, and without one the platform is simply not set ([Require]
// then answers 503 rather than 409). Outages are logged at most once per
// 10 seconds.
package platform
