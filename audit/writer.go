package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/sqlmigrate"
)

// Writer records session events in a SQL table. Its [Writer.Handle] is a
// ginsession.EventHandler that never blocks; a background goroutine writes
// the events in batches. Safe for concurrent use.
type Writer struct {
	db    *sql.DB
	d     sqlmigrate.Dialect
	opts  Options
	table string
	kinds map[ginsession.EventKind]bool // nil: every kind

	q        chan ginsession.Event
	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup // the retention loop

	closeOnce sync.Once
	closed    atomic.Bool
	closeCtx  context.Context // set before stop is closed

	written    atomic.Uint64
	dropped    atomic.Uint64
	lastLog    atomic.Int64
	sinceLog   atomic.Uint64
	insertFull string // the INSERT of a full batch, built once
}

// New creates the audit table if needed (versioned, idempotent, safe from
// several processes at once) and starts the writer. db must use SQLite
// (modernc.org/sqlite), PostgreSQL (pgx's stdlib) or MySQL/MariaDB
// (go-sql-driver/mysql, any sql_mode); the caller keeps
// ownership of it and closes it after [Writer.Close].
func New(ctx context.Context, db *sql.DB, opts Options) (*Writer, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", ErrInvalid)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := sqlmigrate.Lookup(opts.Dialect, db.Driver())
	if err != nil {
		return nil, fmt.Errorf("%w: Options.Dialect: %w", ErrInvalid, err)
	}
	if err := migrate(ctx, db, d, opts.Table, opts.Now()); err != nil {
		return nil, fmt.Errorf("audit: create schema: %w", err)
	}
	w := &Writer{
		db: db, d: d, opts: opts, table: sqlmigrate.Quote(opts.Table),
		q:        make(chan ginsession.Event, opts.QueueSize),
		flushReq: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if len(opts.Kinds) > 0 {
		w.kinds = make(map[ginsession.EventKind]bool, len(opts.Kinds))
		for _, k := range opts.Kinds {
			w.kinds[k] = true
		}
	}
	w.insertFull = w.insertSQL(opts.BatchSize)
	go w.run()
	if opts.Retention > 0 {
		w.wg.Add(1)
		go w.retain()
	}
	return w, nil
}

// Handle queues ev for writing (an event of no user only with
// [Options.IncludeAnonymous]). It never blocks and never fails: when the
// queue is full, or the writer is closed, the event is dropped and counted
// ([Writer.Dropped], [Options.OnDrop]). Pass it to ginsession as
// Config.OnEvent: []ginsession.EventHandler{w.Handle}.
func (w *Writer) Handle(ev ginsession.Event) {
	if w.kinds != nil && !w.kinds[ev.Kind] {
		return
	}
	if ev.UserID == "" && !w.opts.IncludeAnonymous {
		return
	}
	if w.closed.Load() {
		w.drop(1, "writer closed", nil)
		return
	}
	select {
	case w.q <- ev:
	default:
		w.drop(1, "queue full", nil)
	}
}

// Written returns how many events have been written so far.
func (w *Writer) Written() uint64 { return w.written.Load() }

// Dropped returns how many events have been dropped so far: queue full,
// failed or timed-out writes, or events after Close.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Pending returns how many events wait in the queue.
func (w *Writer) Pending() int { return len(w.q) }

// Flush writes every event queued before the call and returns when they
// are written or dropped; the error reports a failed batch (its events are
// counted as dropped). ErrClosed after Close.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.flushReq <- reply:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
}

// ErrClosed is returned by operations on a closed Writer.
var ErrClosed = errors.New("audit: writer closed")

// Close stops accepting events, writes what is queued (bounded by ctx;
// what cannot be written in time is dropped and counted), and stops the
// background goroutines. It does not close the database. Later calls
// return nil at once.
func (w *Writer) Close(ctx context.Context) error {
	first := false
	w.closeOnce.Do(func() {
		first = true
		w.closeCtx = ctx
		w.closed.Store(true)
		close(w.stop)
	})
	if !first {
		return nil
	}
	var err error
	select {
	case <-w.done:
	case <-ctx.Done():
		err = fmt.Errorf("audit: close: %w", ctx.Err())
		<-w.done // the final writes use ctx too: they end at once
	}
	w.wg.Wait()
	// Events that raced with Close into the queue are not written.
	if n := len(w.q); n > 0 {
		for range n {
			<-w.q
		}
		w.drop(n, "writer closed", nil)
	}
	return err
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]ginsession.Event, 0, w.opts.BatchSize)
	for {
		select {
		case ev := <-w.q:
			batch = append(batch, ev)
			if len(batch) == w.opts.BatchSize {
				_ = w.write(context.Background(), batch)
				batch = batch[:0]
			}
		case <-tick.C:
			if len(batch) > 0 {
				_ = w.write(context.Background(), batch)
				batch = batch[:0]
			}
		case reply := <-w.flushReq:
			var errs []error
			n := len(w.q)
			for i := 0; i <= n; i++ {
				if i < n {
					batch = append(batch, <-w.q)
				}
				if len(batch) == w.opts.BatchSize || i == n && len(batch) > 0 {
					errs = append(errs, w.write(context.Background(), batch))
					batch = batch[:0]
				}
			}
			reply <- errors.Join(errs...)
		case <-w.stop:
			ctx := w.closeCtx
			for n := len(w.q); n > 0; n-- {
				batch = append(batch, <-w.q)
				if len(batch) == w.opts.BatchSize {
					_ = w.write(ctx, batch)
					batch = batch[:0]
				}
			}
			if len(batch) > 0 {
				_ = w.write(ctx, batch)
			}
			return
		}
	}
}

// columns, in the order of the INSERT.
const columns = `"time", "kind", "session", "user_id", "platform", "ip", "user_agent", "detail"`

const nColumns = 8

func (w *Writer) insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + w.table + " (" + columns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return w.d.Rebind(b.String())
}

// write inserts batch in one statement; on failure the batch is dropped.
func (w *Writer) write(ctx context.Context, batch []ginsession.Event) error {
	q := w.insertFull
	if len(batch) != w.opts.BatchSize {
		q = w.insertSQL(len(batch))
	}
	args := make([]any, 0, len(batch)*nColumns)
	for _, ev := range batch {
		args = append(args, w.row(ev)...)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
	defer cancel()
	if _, err := w.db.ExecContext(ctx, q, args...); err != nil {
		w.drop(len(batch), "write failed", err)
		return fmt.Errorf("audit: write %d events: %w", len(batch), err)
	}
	w.written.Add(uint64(len(batch)))
	return nil
}

// row is the sanitised column values of one event.
func (w *Writer) row(ev ginsession.Event) []any {
	t := ev.Time
	if t.IsZero() {
		t = w.opts.Now()
	}
	platform := ""
	if ev.Kind == ginsession.EventPlatformSwitched {
		platform = ev.Detail
	}
	return []any{
		t.UnixMilli(),
		clean(string(ev.Kind), maxKind),
		clean(ev.Session, maxSession),
		clean(ev.UserID, maxUserID),
		clean(platform, maxPlatform),
		clean(ev.IP, maxIP),
		clean(ev.UserAgent, w.opts.MaxUserAgent),
		clean(ev.Detail, w.opts.MaxDetail),
	}
}

// logEvery bounds drop logging.
const logEvery = 10 * time.Second

// drop counts n dropped events, tells OnDrop, and logs at most once per
// logEvery with the count since the last line.
func (w *Writer) drop(n int, reason string, err error) {
	w.dropped.Add(uint64(n))
	w.sinceLog.Add(uint64(n))
	if w.opts.OnDrop != nil {
		w.opts.OnDrop(n)
	}
	now := time.Now().UnixNano()
	last := w.lastLog.Load()
	if now-last < int64(logEvery) || !w.lastLog.CompareAndSwap(last, now) {
		return
	}
	args := []any{"reason", reason, "dropped", w.sinceLog.Swap(0), "total", w.dropped.Load()}
	if err != nil {
		args = append(args, "err", err)
	}
	w.opts.Logger.Warn("audit: events dropped", args...)
}

// retain runs the retention purge every RetentionInterval.
func (w *Writer) retain() {
	defer w.wg.Done()
	tick := time.NewTicker(w.opts.RetentionInterval)
	defer tick.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.stop
		cancel()
	}()
	for {
		select {
		case <-tick.C:
			if _, err := w.Purge(ctx, w.opts.Retention); err != nil && ctx.Err() == nil {
				w.opts.Logger.Warn("audit: retention purge", "err", err)
			}
		case <-w.stop:
			return
		}
	}
}
