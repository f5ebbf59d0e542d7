package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

// A full flow over HTTP leaves its events in order, and no row holds a
// session token or a store key.
func TestFlowOverHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		w := newWriter(t, db, audit.Options{})
		a := newApp(t, w)
		c := a.client()
		c.ua = "flow-test/1.0"
		c.must("POST", "/login/1")
		c.must("POST", "/platform/2")
		c.must("POST", "/rotate")
		c.must("POST", "/logout")
		flush(t, w)

		recs, err := w.History(context.Background(), "1", audit.Filter{})
		require.NoError(t, err)
		var kinds []string
		for i := len(recs) - 1; i >= 0; i-- { // oldest first
			kinds = append(kinds, string(recs[i].Kind))
		}
		assert.True(t, isSubsequence(kinds, []string{"login", "platform_switched", "rotated", "logout"}),
			"kinds in order: %v", kinds)
		for i := 1; i < len(recs); i++ {
			assert.False(t, recs[i].Time.After(recs[i-1].Time), "newest first")
		}
		for _, r := range recs {
			assert.Equal(t, "flow-test/1.0", r.UserAgent)
			assert.Equal(t, "127.0.0.1", r.IP)
			if r.Kind == ginsession.EventPlatformSwitched {
				assert.Equal(t, "2", r.Platform)
			}
			if r.Session != "" {
				assert.Len(t, r.Session, 22, "a handle")
			}
		}

		require.NotEmpty(t, c.tokens)
		var secrets []string
		for tok := range c.tokens {
			if _, err := store.ParseToken(tok); err == nil {
				secrets = append(secrets, tok, store.KeyFromToken(tok))
			}
		}
		require.NotEmpty(t, secrets, "the client saw session tokens")
		rows := allRows(t, db, "session_audit")
		require.GreaterOrEqual(t, len(rows), 4)
		for _, row := range rows {
			for _, col := range row {
				for _, s := range secrets {
					assert.NotContains(t, col, s, "a token or store key reached the audit table")
				}
			}
		}
	})
}

func isSubsequence(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// Hostile header and event text is stored escaped, bounded, valid UTF-8,
// and inert: the injection attempt is data, the table survives.
func TestHostileText(t *testing.T) {
	injection := `'); DROP TABLE session_audit; --`
	cases := []struct {
		name  string
		ua    string
		check func(t *testing.T, stored string)
	}{
		{"sql injection", injection, func(t *testing.T, s string) { assert.Equal(t, injection, s) }},
		{"newline and escape", "a\r\nFAKE LOG LINE\x1b[31m", func(t *testing.T, s string) {
			assert.Equal(t, `a\x0d\x0aFAKE LOG LINE\x1b[31m`, s)
		}},
		{"nul", "x\x00y", func(t *testing.T, s string) { assert.Equal(t, `x\x00y`, s) }},
		{"invalid utf-8", "ok\xff\xfe", func(t *testing.T, s string) { assert.Equal(t, `ok\xff\xfe`, s) }},
		{"bidi override", "evil\u202egnp.exe", func(t *testing.T, s string) { assert.Equal(t, `evil\u202egnp.exe`, s) }},
		{"c1 control", "a\u0085b", func(t *testing.T, s string) { assert.Equal(t, `a\u0085b`, s) }},
		{"unicode kept", "Mozilla/5.0 (日本語) ✓", func(t *testing.T, s string) { assert.Equal(t, "Mozilla/5.0 (日本語) ✓", s) }},
		{"long", strings.Repeat("A", 100_000), func(t *testing.T, s string) {
			assert.LessOrEqual(t, len(s), audit.DefaultMaxUserAgent)
			assert.True(t, strings.HasSuffix(s, "…"))
		}},
		{"long multibyte", strings.Repeat("日", 1000), func(t *testing.T, s string) {
			assert.LessOrEqual(t, len(s), audit.DefaultMaxUserAgent)
		}},
		{"long escapes", strings.Repeat("\x01", 1000), func(t *testing.T, s string) {
			assert.LessOrEqual(t, len(s), audit.DefaultMaxUserAgent)
			assert.True(t, strings.HasPrefix(s, `\x01\x01`))
		}},
	}
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		w := newWriter(t, db, audit.Options{})
		for i, tc := range cases {
			// Through the event stream directly: HTTP itself refuses
			// control characters in headers, but events come from other
			// places too.
			w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: fmt.Sprint("u", i),
				UserAgent: tc.ua, Detail: tc.ua, IP: tc.ua})
		}
		flush(t, w)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				recs, err := w.History(context.Background(), fmt.Sprint("u", i), audit.Filter{})
				require.NoError(t, err)
				require.Len(t, recs, 1)
				r := recs[0]
				tc.check(t, r.UserAgent)
				for _, s := range []string{r.UserAgent, r.Detail, r.IP} {
					assert.True(t, utf8.ValidString(s))
					assert.False(t, strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), "%q", s)
				}
				assert.LessOrEqual(t, len(r.IP), 64)
			})
		}
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM session_audit`).Scan(&n), "the table survived")
		assert.Equal(t, len(cases), n)
	})
}

// The same over real HTTP, for what a client can put in a header.
func TestHostileUserAgentOverHTTP(t *testing.T) {
	db := openSQLite(t)
	w := newWriter(t, db, audit.Options{})
	a := newApp(t, w)
	c := a.client()
	c.ua = `'); DROP TABLE session_audit; -- ` + "\u202e\xff" + strings.Repeat("z", 2000)
	c.must("POST", "/login/7")
	flush(t, w)
	recs, err := w.History(context.Background(), "7", audit.Filter{})
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	for _, r := range recs {
		assert.True(t, strings.HasPrefix(r.UserAgent, `'); DROP TABLE session_audit; -- \u202e\xff zzz`[:40]))
		assert.LessOrEqual(t, len(r.UserAgent), audit.DefaultMaxUserAgent)
		assert.True(t, utf8.ValidString(r.UserAgent))
	}
}

func TestHistoryFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		w := newWriter(t, open(t), audit.Options{})
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		kinds := []ginsession.EventKind{ginsession.EventLogin, ginsession.EventPlatformSwitched, ginsession.EventLogout}
		for i := range 30 {
			w.Handle(ginsession.Event{Kind: kinds[i%3], Time: base.Add(time.Duration(i) * time.Minute), UserID: "alice", Detail: fmt.Sprint(i)})
		}
		w.Handle(ginsession.Event{Kind: ginsession.EventLogin, Time: base, UserID: "bob"})
		w.Handle(ginsession.Event{Kind: ginsession.EventLogin, Time: base, UserID: "Bob "})
		flush(t, w)
		ctx := context.Background()
		cases := []struct {
			name    string
			user    string
			f       audit.Filter
			details []string // expected details, in order
			n       int      // expected count when details is nil
		}{
			{name: "default limit", user: "alice", f: audit.Filter{}, n: 30},
			{name: "limit", user: "alice", f: audit.Filter{Limit: 3}, details: []string{"29", "28", "27"}},
			{name: "before", user: "alice", f: audit.Filter{Limit: 2, Before: base.Add(10 * time.Minute)}, details: []string{"9", "8"}},
			{name: "kinds", user: "alice", f: audit.Filter{Limit: 3, Kinds: []ginsession.EventKind{ginsession.EventLogout}}, details: []string{"29", "26", "23"}},
			{name: "two kinds", user: "alice", f: audit.Filter{Kinds: kinds[:2]}, n: 20},
			{name: "limit above max is clamped", user: "alice", f: audit.Filter{Limit: 1 << 30}, n: 30},
			{name: "negative limit is the default", user: "alice", f: audit.Filter{Limit: -5}, n: 30},
			{name: "other user", user: "bob", f: audit.Filter{}, n: 1},
			// Ids match exactly: not by case, not with trailing space
			// (MySQL's default collations ignore both).
			{name: "user differing in case and space", user: "Bob ", f: audit.Filter{}, n: 1},
			{name: "user without the trailing space", user: "Bob", f: audit.Filter{}, n: 0},
			{name: "unknown user", user: "carol", f: audit.Filter{}, n: 0},
			{name: "upper case of a user", user: "ALICE", f: audit.Filter{}, n: 0},
			{name: "injection as user id", user: "' OR '1'='1", f: audit.Filter{}, n: 0},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				recs, err := w.History(ctx, tc.user, tc.f)
				require.NoError(t, err)
				if tc.details == nil {
					assert.Len(t, recs, tc.n)
					return
				}
				var got []string
				for _, r := range recs {
					got = append(got, r.Detail)
				}
				assert.Equal(t, tc.details, got)
			})
		}
		_, err := w.History(ctx, "", audit.Filter{})
		assert.ErrorIs(t, err, audit.ErrInvalid)
		_, err = w.History(ctx, "alice", audit.Filter{Kinds: make([]ginsession.EventKind, audit.MaxKinds+1)})
		assert.ErrorIs(t, err, audit.ErrInvalid)
	})
}

func TestPurgeAndRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		w := newWriter(t, db, audit.Options{})
		now := time.Now()
		for i := range 10 {
			w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "u", Time: now.Add(-48 * time.Hour).Add(time.Duration(i) * time.Second)})
		}
		for range 5 {
			w.Handle(ginsession.Event{Kind: ginsession.EventLogout, UserID: "u", Time: now})
		}
		flush(t, w)
		n, err := w.Purge(context.Background(), 24*time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 10, n)
		recs, err := w.History(context.Background(), "u", audit.Filter{})
		require.NoError(t, err)
		assert.Len(t, recs, 5)
		n, err = w.Purge(context.Background(), 24*time.Hour)
		require.NoError(t, err)
		assert.Zero(t, n)
		_, err = w.Purge(context.Background(), 0)
		assert.ErrorIs(t, err, audit.ErrInvalid)

		// The retention loop purges in the background.
		w2 := newWriter(t, db, audit.Options{Retention: time.Hour, RetentionInterval: 20 * time.Millisecond})
		w2.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "r", Time: now.Add(-2 * time.Hour)})
		w2.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "r", Time: now})
		flush(t, w2)
		eventually(t, 5*time.Second, func() bool {
			recs, err := w2.History(context.Background(), "r", audit.Filter{})
			return err == nil && len(recs) == 1
		}, "the retention loop purges the old row")
	})
}

// Close writes what is queued, stops its goroutines, and drops (counts)
// what comes after.
func TestCloseFlushes(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		w0, err := audit.New(context.Background(), db, audit.Options{}) // schema first, pool warm
		require.NoError(t, err)
		require.NoError(t, w0.Close(context.Background()))
		before := runtime.NumGoroutine()
		w, err := audit.New(context.Background(), db, audit.Options{FlushInterval: time.Hour, BatchSize: 500, // above the 100 events: only Close writes them
			Retention: time.Hour})
		require.NoError(t, err)
		for range 100 {
			w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "c"})
		}
		assert.Zero(t, w.Written(), "nothing written before a full batch or the interval")
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, w.Close(context.Background()))
		assert.Equal(t, uint64(100), w.Written())
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM session_audit WHERE user_id = 'c'`).Scan(&n))
		assert.Equal(t, 100, n)

		w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "c"})
		assert.Equal(t, uint64(1), w.Dropped())
		assert.NoError(t, w.Close(context.Background()), "a second Close is harmless")
		assert.ErrorIs(t, w.Flush(context.Background()), audit.ErrClosed)
		eventually(t, 2*time.Second, func() bool { return runtime.NumGoroutine() <= before },
			fmt.Sprintf("goroutines back to %d (now %d)", before, runtime.NumGoroutine()))
	})
}

// With the database's write lock held elsewhere, Handle still never
// blocks: the queue fills and the rest is dropped and counted.
func TestQueueFullDrops(t *testing.T) {
	dir := t.TempDir()
	dsn := "file:" + dir + "/a.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	defer db.Close()
	var onDrop int64
	var mu sync.Mutex
	w := newWriter(t, db, audit.Options{QueueSize: 10, BatchSize: 5, FlushInterval: 10 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, OnDrop: func(n int) { mu.Lock(); onDrop += int64(n); mu.Unlock() }})

	locker, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	defer locker.Close()
	conn, err := locker.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(t, err)

	t0 := time.Now()
	for range 100 {
		w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "q"})
	}
	took := time.Since(t0)
	t.Logf("100 Handle calls with the database locked: %v, dropped at once: %d", took, w.Dropped())
	assert.Less(t, took, 50*time.Millisecond, "Handle never blocks")
	assert.GreaterOrEqual(t, w.Dropped(), uint64(100-10-5), "what does not fit the queue is dropped")

	eventually(t, 5*time.Second, func() bool { return w.Dropped() == 100 }, "the locked-out batches are dropped too")
	mu.Lock()
	assert.Equal(t, int64(100), onDrop, "OnDrop sees every drop")
	mu.Unlock()

	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	require.NoError(t, err)
	w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "q"})
	flush(t, w)
	assert.Equal(t, uint64(1), w.Written(), "writes resume when the database is back")
}

// With PostgreSQL stopped, requests through the middleware stay fast, and
// the events are dropped and counted; when it is back, writing resumes.
func TestPostgresStopped(t *testing.T) {
	pg := testserver.StartPostgres(t)
	db, err := sql.Open("pgx", pg.DSN)
	require.NoError(t, err)
	defer db.Close()
	w := newWriter(t, db, audit.Options{FlushInterval: 20 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	a := newApp(t, w)

	c := a.client()
	c.must("POST", "/login/1")
	flush(t, w)
	require.NotZero(t, w.Written(), "login is written while the database is up")
	require.Zero(t, w.Dropped())

	pg.Stop()
	var slowest time.Duration
	const n = 20
	for i := range n {
		path := "/platform/1"
		if i%2 == 1 {
			path = "/platform/2"
		}
		code, d := c.do("POST", path)
		require.Equal(t, 200, code)
		slowest = max(slowest, d)
		assert.Less(t, d, time.Second, "request %d took %v", i, d)
	}
	eventually(t, 10*time.Second, func() bool { return w.Dropped() >= n }, "events dropped while PostgreSQL is down")
	t.Logf("PostgreSQL stopped: %d requests, slowest %v; dropped %d events, written %d", n, slowest, w.Dropped(), w.Written())

	pg.Start()
	written := w.Written()
	eventually(t, 20*time.Second, func() bool {
		c.must("POST", "/platform/1")
		c.must("POST", "/platform/2")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Flush(ctx)
		return w.Written() > written
	}, "writing resumes after PostgreSQL restarts")
}

func TestNewValidates(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	cases := []struct {
		name string
		opts audit.Options
	}{
		{"table with a quote", audit.Options{Table: `a"b`}},
		{"table with a space", audit.Options{Table: "a b"}},
		{"upper case table", audit.Options{Table: "Audit"}},
		{"long table", audit.Options{Table: strings.Repeat("a", 49)}},
		{"negative queue", audit.Options{QueueSize: -1}},
		{"batch too large", audit.Options{BatchSize: audit.MaxBatchSize + 1}},
		{"negative interval", audit.Options{FlushInterval: -time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.New(ctx, db, tc.opts)
			assert.ErrorIs(t, err, audit.ErrInvalid)
		})
	}
	_, err := audit.New(ctx, nil, audit.Options{})
	assert.ErrorIs(t, err, audit.ErrInvalid)
}

// Several writers creating the schema at once: one migration, no error.
func TestSchemaConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				w, err := audit.New(context.Background(), db, audit.Options{Table: "trail"})
				if err == nil {
					err = w.Close(context.Background())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM trail_migrations`).Scan(&n))
		assert.Equal(t, 1, n)
		w := newWriter(t, db, audit.Options{Table: "trail", Kinds: []ginsession.EventKind{ginsession.EventLogin}})
		w.Handle(ginsession.Event{Kind: ginsession.EventLogin, UserID: "k"})
		w.Handle(ginsession.Event{Kind: ginsession.EventCreated, UserID: "k"})
		flush(t, w)
		recs, err := w.History(context.Background(), "k", audit.Filter{})
		require.NoError(t, err)
		require.Len(t, recs, 1, "Kinds keeps only the listed kinds")
		assert.True(t, slices.Contains([]ginsession.EventKind{ginsession.EventLogin}, recs[0].Kind))
	})
}

// Events of no user (a refused cookie naming no session, an anonymous
// session) are not recorded unless asked for: anyone can cause them for
// free. A user's events are.
func TestAnonymousEventsSkipped(t *testing.T) {
	for _, include := range []bool{false, true} {
		db := openSQLite(t)
		w := newWriter(t, db, audit.Options{IncludeAnonymous: include, BatchSize: 1000})
		for range 100 {
			w.Handle(ginsession.Event{Kind: ginsession.EventRejected, Detail: ginsession.RejectUnknown})
			w.Handle(ginsession.Event{Kind: ginsession.EventCreated})
		}
		w.Handle(ginsession.Event{Kind: ginsession.EventRejected, UserID: "7", Detail: ginsession.RejectDecrypt})
		require.NoError(t, w.Flush(context.Background()))
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM session_audit`).Scan(&n))
		want := 1
		if include {
			want = 201
		}
		assert.Equal(t, want, n, "IncludeAnonymous %v", include)
	}
}
