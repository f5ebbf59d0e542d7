package storage_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
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

// A session under an earlier version's binary key name is invisible until
// MigrateRedisKeys moves it, and readable after.
func TestMigrateRedisKeys(t *testing.T) {
	ctx := context.Background()
	prefix := "mig" + strings.ReplaceAll(t.Name(), "/", "") + ":session:"
	st, err := storage.FromEnv(ctx, storage.Options{
		Lookup: lookup(map[string]string{"SESSION_STORAGE": "redis", "REDIS_URL": redisURL(t), "REDIS_SESSION_PREFIX": prefix}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	e := &store.Entry{Key: store.NewToken().Key(), Version: 1, UserID: "1", Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour), Payload: []byte("x")}
	e.Normalize()
	if err := st.Store().Put(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, strings.TrimPrefix(redisURL(t), "redis://"))
	name := redisstore.KeyName(st.RedisPrefix(), e.Key)
	v, err := raw.Get(ctx, name).Result()
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := base64.RawURLEncoding.DecodeString(e.Key)
	if err := raw.Set(ctx, st.RedisPrefix()+"s:"+string(bin), v, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_ = raw.Del(ctx, name).Err()
	if _, err := st.Store().Get(ctx, e.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before the migration: %v, want not found", err)
	}
	res, err := st.MigrateRedisKeys(ctx)
	if err != nil || res.Moved != 1 {
		t.Fatalf("MigrateRedisKeys = %+v, %v; want 1 moved", res, err)
	}
	if got, err := st.Store().Get(ctx, e.Key); err != nil || string(got.Payload) != "x" {
		t.Fatalf("after the migration: %v, %v", got, err)
	}
}
