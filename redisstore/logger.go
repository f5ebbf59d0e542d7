package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis writes its own log lines (failed dials, pool and cluster state
// changes) through one process-wide logger, set with redis.SetLogger; by
// default that is the standard library's log package. SetLogger routes
// them into an *slog.Logger instead.
var (
	logOnce   sync.Once
	logTarget atomic.Pointer[slog.Logger]
)

// SetLogger sends go-redis's own log lines to l, at level Warn with the
// attribute component=go-redis; nil means slog.Default(). During an outage
// go-redis logs a failed dial per request, so a line whose format was
// logged less than [LogInterval] ago is dropped and counted; the next line
// of that format carries the count (dropped=n). go-redis keeps
// one logger for the whole process, so the last call wins for every
// client, whichever store built it. [New] and [NewFromURL] call it with
// [Options.Logger] when that is set, and storage.Open does with its own
// logger. It is safe to call at any time, from any goroutine: the adapter
// is installed into go-redis once, and each line goes to the logger set
// when it is written.
func SetLogger(l *slog.Logger) {
	logTarget.Store(l)
	logOnce.Do(func() { redis.SetLogger(slogAdapter{}) })
}

// LogInterval is the shortest time between two go-redis log lines of the
// same format that [SetLogger] lets through.
const LogInterval = 10 * time.Second

// slogAdapter is go-redis's logging interface on top of logTarget.
type slogAdapter struct{}

// logLimit remembers, per format, when a line last went out and how many
// were dropped since. go-redis has a few dozen formats; the map is reset
// if it ever grows past maxFormats.
var logLimit struct {
	sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

const maxFormats = 256

// Printf logs one go-redis line.
func (slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now()
	logLimit.Lock()
	if logLimit.last == nil || len(logLimit.last) > maxFormats {
		logLimit.last, logLimit.dropped = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := logLimit.last[format]; ok && now.Sub(t) < LogInterval {
		logLimit.dropped[format]++
		logLimit.Unlock()
		return
	}
	logLimit.last[format] = now
	dropped := logLimit.dropped[format]
	delete(logLimit.dropped, format)
	logLimit.Unlock()
	l := logTarget.Load()
	if l == nil {
		l = slog.Default()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	attrs := []any{"component", "go-redis"}
	if dropped > 0 {
		attrs = append(attrs, "dropped", dropped)
	}
	l.Log(ctx, slog.LevelWarn, msg, attrs...)
}
