package storage_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// The seed's .env as written (REDIS_SESSION_PREFIX=vedfolnir:session:)
// gives keys of the seed's shape, vedfolnir:session:{id}, the per-user
// index beside them, every name printable; and with only REDIS_URL set the
// storage runs hybrid and says where its SQLite file is, created or found.
func TestSeedEnvKeysAndSQLiteNote(t *testing.T) {
	ctx := context.Background()
	ns := "seed" + strings.ReplaceAll(t.Name(), "/", "") + ":"
	prefix := ns + "session:" // the seed's shape, in this test's own namespace
	dir := t.TempDir()
	var logs bytes.Buffer
	open := func() *storage.Storage {
		st, err := storage.FromEnv(ctx, storage.Options{
			Lookup:            lookup(map[string]string{"REDIS_URL": redisURL(t), "REDIS_SESSION_PREFIX": prefix}),
			DefaultSQLitePath: filepath.Join(dir, "sessions.db"),
			Logger:            slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	defer st.Close()
	if st.Mode() != storage.ModeHybrid {
		t.Errorf("only REDIS_URL: mode %s, want hybrid", st.Mode())
	}
	wantPath := filepath.Join(dir, "sessions.db")
	if out := logs.String(); !strings.Contains(out, "created SQLite file "+wantPath) || !strings.Contains(out, "created=true") {
		t.Errorf("start-up log does not say the SQLite file was created at %s:\n%s", wantPath, out)
	}
	if _, err := os.Stat(wantPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e := &store.Entry{Key: store.NewToken().Key(), Version: 1, UserID: "1", Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour), Payload: []byte("x")}
	e.Normalize()
	if err := st.Store().Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(redisURL(t), "redis://")})
	defer rdb.Close()
	var names []string
	it := rdb.Scan(ctx, 0, ns+"*", 100).Iterator()
	for it.Next(ctx) {
		names = append(names, it.Val())
	}
	sessionName := redisstore.KeyName(prefix, e.Key)
	if !strings.HasPrefix(sessionName, ns+"session:") || strings.Contains(sessionName, "session:session:") {
		t.Errorf("session key %q, want %ssession:{id}", sessionName, ns)
	}
	found := map[string]bool{}
	for _, n := range names {
		for i := 0; i < len(n); i++ {
			if n[i] <= ' ' || n[i] > '~' {
				t.Errorf("key %q is not printable ASCII without spaces", n)
				break
			}
		}
		found[n] = true
	}
	if !found[sessionName] || !found[ns+"users:"+strings.TrimPrefix(redisstore.IndexKeyName(prefix, "1"), ns+"users:")] {
		t.Errorf("keys %q: want the session %q and its index bucket beside it", names, sessionName)
	}
	if !strings.HasPrefix(redisstore.IndexKeyName(prefix, "1"), ns+"users:") {
		t.Errorf("index %q is not beside the sessions", redisstore.IndexKeyName(prefix, "1"))
	}
	_ = st.Close()
	logs.Reset()
	st = open()
	defer st.Close()
	if out := logs.String(); !strings.Contains(out, "sessions in SQLite file "+wantPath) || !strings.Contains(out, "created=false") {
		t.Errorf("second start does not name the existing SQLite file:\n%s", out)
	}
}
