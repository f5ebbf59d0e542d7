// Package live keeps every tab of a session in step, across app
// instances, with Server-Sent Events.
//
// When one tab switches platform, logs out, or has its session revoked or
// rotated, the session layer emits an event. A [Publisher] (a session event
// consumer) sends it through a [store.Broker]: the Redis store's pub/sub
// when instances share a Redis, or a [LocalBroker] inside one process. The
// [Handler] streams each session's events to its tabs, and the script
// ([Script], served by [ScriptHandler]) reacts: reload on a platform
// switch, leave for the login page on logout, reconnect on rotation.
//
//	broker := redisStore                   // *redisstore.Store is a store.Broker; or live.NewLocalBroker()
//	pub := live.NewPublisher(broker, live.PublisherOptions{})
//	defer pub.Close()
//	mgr, _ := ginsession.NewManager(ginsession.Config{..., OnEvent: []ginsession.EventHandler{pub.Handle}})
//	r.Use(mgr.Middleware())
//	r.GET("/api/events", live.Handler(broker, live.Options{}))
//	r.GET("/api/state", live.StateHandler(live.Options{Platform: currentPlatform}))
//	r.GET("/live.js", live.ScriptHandler())
//
// # Topics and messages
//
// Each event goes to the topic of its session, "s." + handle
// ([SessionTopic]), and, when it has a user, to the user's topic, "u." +
// 22 characters of the SHA-256 of the user id ([UserTopic]): the raw id
// never reaches the broker. The message is a small JSON [Message]
// {kind, time, session, detail}: a handle, never a token.
//
// A stream follows its session's topic, and its user's topic for
// user-wide logout, revoked and evicted messages (those naming no
// session). Per-session events reach exactly the tabs of that session.
//
// # Delivery
//
// Delivery is best effort, like the brokers: a publisher whose queue is
// full drops and counts ([Publisher.Dropped]); a broker drops for a slow
// reader; nothing is replayed to a reconnecting client, which gets a
// resync event instead and refetches [State]. The store stays the truth:
// a logged-out cookie is refused by every instance on its next request
// whether or not the event arrived.
package live
