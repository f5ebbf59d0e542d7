package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// Options configures [Handler] and [StateHandler]. The zero value is the
// safe default.
type Options struct {
	// Session names the session the handlers serve (ginsession's
	// Config.Name). Default "": the default session.
	Session string
	// Heartbeat is how often an idle stream sends a comment line, which
	// keeps proxies from closing it and detects a client that has gone.
	// Default 15 s.
	Heartbeat time.Duration
	// Retry is the reconnection delay suggested to EventSource (its
	// "retry:" field). Default 2 s.
	Retry time.Duration
	// MaxDuration, when set, ends every stream after this long (the client
	// reconnects). Streams always end at the session's deadline as known
	// when they start, so a reconnect finds an expired session gone.
	// Default 0: only the deadline.
	MaxDuration time.Duration
	// WriteTimeout bounds each write to the client; a client that does not
	// read for this long is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// Platform, when set, is asked by StateHandler for the session's
	// current platform (any JSON value; nil for none), for example
	// func(c *gin.Context) any { pc, _ := platform.From(c); return pc }.
	Platform func(c *gin.Context) any
	// Logger receives broker failures. Default slog.Default().
	Logger *slog.Logger
	// MaxStreamsPerSession caps the streams one session holds open at
	// once (its tabs); one more is refused with 429. Default 16.
	MaxStreamsPerSession int
	// MaxStreamsPerClient caps the streams open at once from one client
	// address (gin's ClientIP: set the engine's trusted proxies); one more
	// is refused with 429. Default 64.
	MaxStreamsPerClient int
}

func (o Options) withDefaults() Options {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.MaxDuration < 0 {
		o.MaxDuration = 0
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxStreamsPerSession <= 0 {
		o.MaxStreamsPerSession = 16
	}
	if o.MaxStreamsPerClient <= 0 {
		o.MaxStreamsPerClient = 64
	}
	return o
}

// streamCounts counts the open streams per session and per client, for
// the caps.
type streamCounts struct {
	mu        sync.Mutex
	bySession map[string]int
	byClient  map[string]int
}

// acquire takes a slot for the session and the client, or reports which
// cap refused it.
func (sc *streamCounts) acquire(session, client string, o Options) (string, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.bySession[session] >= o.MaxStreamsPerSession:
		return "too many event streams for this session", false
	case sc.byClient[client] >= o.MaxStreamsPerClient:
		return "too many event streams from this address", false
	}
	sc.bySession[session]++
	sc.byClient[client]++
	return "", true
}

func (sc *streamCounts) release(session, client string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.bySession[session]--; sc.bySession[session] <= 0 {
		delete(sc.bySession, session)
	}
	if sc.byClient[client]--; sc.byClient[client] <= 0 {
		delete(sc.byClient, client)
	}
}

// terminal kinds end the stream after they are sent: the session is gone
// (logout, revoked, evicted) or lives on under a new cookie (rotated), and
// the client reconnects, or leaves, accordingly.
func terminal(k ginsession.EventKind) bool {
	switch k {
	case ginsession.EventLogout, ginsession.EventRevoked, ginsession.EventEvicted, ginsession.EventRotated:
		return true
	}
	return false
}

// userWide kinds are taken from the user's topic when they name no
// session: they end every session of the user.
func userWide(k ginsession.EventKind) bool {
	switch k {
	case ginsession.EventLogout, ginsession.EventRevoked, ginsession.EventEvicted:
		return true
	}
	return false
}

// EventResync is the event a stream opens with when the client reconnects
// with a Last-Event-ID: events may have been missed, refetch the state.
const EventResync ginsession.EventKind = "resync"

// maxEventID keeps ids exact in JavaScript numbers.
const maxEventID = 1<<53 - 1

func abortJSON(c *gin.Context, code int, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(code, gin.H{"error": msg})
}

// Handler returns the GET handler of the session's event stream
// (text/event-stream). Install it after the session middleware.
//
// The request must have a stored session (otherwise 401 JSON). The stream
// subscribes to the session's topic and, for a logged-in session, to its
// user's topic, from which it takes only user-wide logout, revoked and
// evicted messages (those naming no session). Each message becomes
//
//	id: <n>
//	event: <kind>
//	data: {"kind":...,"time":...,"session":...,"detail":...}
//
// with ids increasing by one per stream. A comment line is sent every
// Heartbeat. After a rotated, logout, revoked or evicted event the stream
// ends, so the client reconnects with its new cookie or finds itself
// logged out; it also ends at the session's deadline, after MaxDuration,
// when the client goes, and when the broker closes the subscription.
//
// Nothing is replayed on reconnection: a client that sends Last-Event-ID
// gets a resync event first (with the next id, so ids keep increasing
// across the reconnect) and should refetch the state ([StateHandler]).
// The same resync event goes out when the broker's connection was lost
// and re-established under an open stream (messages published meanwhile
// are missed), so no tab stays on a state another instance has changed.
//
// Streams are capped per session and per client address
// (Options.MaxStreamsPerSession, MaxStreamsPerClient: 429 beyond), and
// all of them share the broker's connection (one per process for
// redisstore). A stream lifts the server's read deadline for its own
// connection and bounds each write by WriteTimeout instead, so an
// http.Server with ReadTimeout and WriteTimeout set still streams.
func Handler(b store.Broker, opts Options) gin.HandlerFunc {
	opts = opts.withDefaults()
	counts := &streamCounts{bySession: map[string]int{}, byClient: map[string]int{}}
	return func(c *gin.Context) {
		s, ok := ginsession.LookupNamed(c, opts.Session)
		if !ok {
			abortJSON(c, http.StatusInternalServerError, "session middleware not installed")
			return
		}
		info, stored, err := s.Info()
		switch {
		case err != nil:
			abortJSON(c, http.StatusServiceUnavailable, "session store unavailable")
			return
		case !stored:
			abortJSON(c, http.StatusUnauthorized, "no session")
			return
		case b == nil:
			abortJSON(c, http.StatusServiceUnavailable, "event broker unavailable")
			return
		}
		client := c.ClientIP()
		if reason, ok := counts.acquire(info.Handle, client, opts); !ok {
			c.Header("Retry-After", strconv.Itoa(int(opts.Retry.Seconds()+0.5)))
			abortJSON(c, http.StatusTooManyRequests, reason)
			return
		}
		defer counts.release(info.Handle, client)
		ctx, cancel := context.WithCancel(c.Request.Context())
		defer cancel()
		own, err := b.Subscribe(ctx, SessionTopic(info.Handle))
		if err != nil {
			opts.Logger.WarnContext(ctx, "live: subscribe", "session", info.Handle, "err", err)
			abortJSON(c, http.StatusServiceUnavailable, "event broker unavailable")
			return
		}
		var user <-chan []byte
		if info.UserID != "" {
			if user, err = b.Subscribe(ctx, UserTopic(info.UserID)); err != nil {
				opts.Logger.WarnContext(ctx, "live: subscribe", "session", info.Handle, "err", err)
				abortJSON(c, http.StatusServiceUnavailable, "event broker unavailable")
				return
			}
		}
		st := &stream{c: c, rc: http.NewResponseController(c.Writer), opts: opts}
		st.serve(ctx, info, own, user)
	}
}

// stream writes one client's events.
type stream struct {
	c    *gin.Context
	rc   *http.ResponseController
	opts Options
	id   uint64
	buf  []byte
}

func (st *stream) serve(ctx context.Context, info ginsession.Info, own, user <-chan []byte) {
	// The server's read deadline (ReadTimeout) may still be armed on the
	// connection: a stream lives by its own bounds, and each write has its
	// own deadline (WriteTimeout's replacement).
	_ = st.rc.SetReadDeadline(time.Time{})
	h := st.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	st.c.Status(http.StatusOK)

	last, reconnect := parseLastEventID(st.c.GetHeader("Last-Event-ID"))
	st.id = last
	st.buf = append(st.buf[:0], "retry: "...)
	st.buf = strconv.AppendInt(st.buf, st.opts.Retry.Milliseconds(), 10)
	st.buf = append(st.buf, "\n: connected\n\n"...)
	if reconnect {
		st.appendEvent(Message{Kind: EventResync, Time: time.Now().UTC(), Session: info.Handle})
	}
	if !st.flush() {
		return
	}

	life := time.Until(info.ExpiresAt()) + time.Second
	if st.opts.MaxDuration > 0 {
		life = min(life, st.opts.MaxDuration)
	}
	end := time.NewTimer(max(life, 0))
	defer end.Stop()
	beat := time.NewTicker(st.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case raw, ok := <-own:
			if !ok {
				return
			}
			if raw == nil {
				// The broker lost its connection meanwhile: events may
				// be missed, the client refetches its state.
				if !st.resync(info) {
					return
				}
				continue
			}
			m, valid := decode(raw)
			if !valid {
				continue
			}
			st.appendEvent(m)
			if !st.flush() || terminal(m.Kind) {
				return
			}
		case raw, ok := <-user:
			if !ok {
				return
			}
			if raw == nil {
				if !st.resync(info) {
					return
				}
				continue
			}
			m, valid := decode(raw)
			if !valid || m.Session != "" || !userWide(m.Kind) {
				continue
			}
			st.appendEvent(m)
			st.flush()
			return
		case <-beat.C:
			st.buf = append(st.buf[:0], ": ping\n\n"...)
			if !st.flush() {
				return
			}
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// resync tells the client to refetch its state: events may have been
// missed.
func (st *stream) resync(info ginsession.Info) bool {
	st.appendEvent(Message{Kind: EventResync, Time: time.Now().UTC(), Session: info.Handle})
	return st.flush()
}

// parseLastEventID returns the id to continue from, and whether the
// header was sent at all (a reconnection).
func parseLastEventID(v string) (uint64, bool) {
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || n >= maxEventID-1 {
		return 0, true
	}
	return n, true
}

// decode accepts only well-formed messages whose kind is a plain word, so
// nothing a foreign publisher puts on a topic can break the stream's
// framing.
func decode(raw []byte) (Message, bool) {
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, false
	}
	k := string(m.Kind)
	if k == "" || len(k) > 32 {
		return m, false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || c == '_') {
			return m, false
		}
	}
	return m, true
}

// appendEvent adds one event to the buffer. The data is re-encoded JSON,
// which never holds a raw newline.
func (st *stream) appendEvent(m Message) {
	if st.id >= maxEventID {
		st.id = 0
	}
	st.id++
	data, _ := json.Marshal(m)
	st.buf = append(st.buf[:0], "id: "...)
	st.buf = strconv.AppendUint(st.buf, st.id, 10)
	st.buf = append(st.buf, "\nevent: "...)
	st.buf = append(st.buf, m.Kind...)
	st.buf = append(st.buf, "\ndata: "...)
	st.buf = append(st.buf, data...)
	st.buf = append(st.buf, "\n\n"...)
}

// flush writes the buffer within WriteTimeout and flushes it to the
// client; false means the client is gone.
func (st *stream) flush() bool {
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.opts.WriteTimeout))
	if _, err := st.c.Writer.Write(st.buf); err != nil {
		return false
	}
	st.buf = st.buf[:0]
	return st.rc.Flush() == nil
}

// State is what [StateHandler] answers.
type State struct {
	// Authenticated: the session is logged in.
	Authenticated bool `json:"authenticated"`
	// Session is the session's handle ("" when there is none).
	Session string `json:"session"`
	// UserID is the logged-in user's id.
	UserID string `json:"user_id,omitempty"`
	// Platform is what Options.Platform returned.
	Platform any `json:"platform"`
	// Version changes whenever any field above changes: a client that
	// polls compares it (or sends If-None-Match, and gets 304).
	Version string `json:"version"`
}

// StateHandler returns a GET handler answering the session's [State] as
// JSON, for clients that cannot stream or that resync after a reconnect.
// It never creates a session. It answers with an ETag of the version and
// 304 to a matching If-None-Match; 503 when the store is down.
func StateHandler(opts Options) gin.HandlerFunc {
	opts = opts.withDefaults()
	return func(c *gin.Context) {
		s, ok := ginsession.LookupNamed(c, opts.Session)
		if !ok {
			abortJSON(c, http.StatusInternalServerError, "session middleware not installed")
			return
		}
		info, stored, err := s.Info()
		if err != nil {
			abortJSON(c, http.StatusServiceUnavailable, "session store unavailable")
			return
		}
		var st State
		if stored {
			st.Session, st.UserID, st.Authenticated = info.Handle, info.UserID, info.UserID != ""
		}
		if opts.Platform != nil && st.Authenticated {
			st.Platform = opts.Platform(c)
		}
		body, err := json.Marshal(st)
		if err != nil {
			abortJSON(c, http.StatusInternalServerError, "state cannot be encoded")
			return
		}
		sum := sha256.Sum256(body)
		st.Version = hex.EncodeToString(sum[:8])
		etag := `"` + st.Version + `"`
		c.Header("Cache-Control", "no-cache, private")
		c.Header("ETag", etag)
		if match := c.GetHeader("If-None-Match"); match != "" && strings.Contains(match, etag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.JSON(http.StatusOK, st)
	}
}
