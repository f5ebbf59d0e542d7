package storage_test

import (
	"context"
	"sync"
	"syscall"
	"testing"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// opLog records the observations it is told of.
type opLog struct {
	mu  sync.Mutex
	res []store.Result
}

func (l *opLog) observe(ctx context.Context, _ store.Call) (context.Context, func(store.Result)) {
	return ctx, func(r store.Result) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.res = append(l.res, r)
	}
}

// count returns how many observations of st/op match fallback.
func (l *opLog) count(st string, op store.Op, fallback bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.res {
		if r.Store == st && r.Op == op && r.Fallback == fallback {
			n++
		}
	}
	return n
}

func (l *opLog) reset() { l.mu.Lock(); l.res = nil; l.mu.Unlock() }

// TestObserverSeesEveryStore: Options.Observer reaches the Redis store,
// the SQL store and the hybrid composition; healthy, Redis serves a read;
// with Redis killed, SQL does and the hybrid's observation says the
// fallback served it.
func TestObserverSeesEveryStore(t *testing.T) {
	rp := testserver.StartRedis(t)
	var log opLog
	o := storage.Options{Observer: log.observe}
	fastHybrid(&o)
	st := open(t, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr, RedisPrefix: "obs:", DatabaseURL: sqlitePath(t)}, o)
	s := st.Store()
	e := entry("u1")
	mustPut(t, s, e, 0)
	log.reset()

	wantEntry(t, s, e.Key, 1, string(e.Payload), "healthy read")
	if log.count("hybrid", store.OpGet, false) != 1 || log.count("redis", store.OpGet, false) != 1 || log.count("database", store.OpGet, false) != 0 {
		t.Errorf("healthy read: %+v; want hybrid and redis gets, no database get", log.res)
	}

	rp.Kill(syscall.SIGKILL)
	log.reset()
	wantEntry(t, s, e.Key, 1, string(e.Payload), "read during the outage")
	if log.count("hybrid", store.OpGet, true) != 1 || log.count("database", store.OpGet, false) != 1 {
		t.Errorf("read during the outage: %+v; want a hybrid get served by the fallback, and a database get", log.res)
	}
	failed := false
	log.mu.Lock()
	for _, r := range log.res {
		if r.Store == "redis" && r.Err != nil {
			failed = true
		}
	}
	log.mu.Unlock()
	if !failed {
		t.Error("no failed redis operation observed during the outage")
	}
}
