package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/storage"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestConfigFromEnv(t *testing.T) {
	opts := storage.Options{DefaultSQLitePath: "/var/lib/app/sessions.db"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want storage.Config
	}{
		{"nothing set: database on the default SQLite file", nil,
			storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "/var/lib/app/sessions.db"}},
		{"only DATABASE_URL: database", map[string]string{"DATABASE_URL": "postgres://u@h/db"},
			storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgres://u@h/db"}},
		{"only REDIS_URL: hybrid on the default SQLite file", map[string]string{"REDIS_URL": "redis://h:6379/0"},
			storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://h:6379/0", RedisPrefix: "vedfolnir:", DatabaseURL: "/var/lib/app/sessions.db"}},
		{"empty values are unset", map[string]string{"REDIS_URL": " ", "SESSION_STORAGE": "", "DATABASE_URL": "", "REDIS_SESSION_PREFIX": ""},
			storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "/var/lib/app/sessions.db"}},
		{"redis alone when asked", map[string]string{"SESSION_STORAGE": "redis", "REDIS_URL": "redis://h:6379/0"},
			storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://h:6379/0", RedisPrefix: "vedfolnir:"}},
		{"both: hybrid", map[string]string{"REDIS_URL": "redis://h:6379/0", "DATABASE_URL": "s.db", "REDIS_SESSION_PREFIX": "app:"},
			storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://h:6379/0", RedisPrefix: "app:", DatabaseURL: "s.db"}},
		{"hybrid asked with only REDIS_URL: SQLite default", map[string]string{"SESSION_STORAGE": "Hybrid", "REDIS_URL": "redis://h"},
			storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://h", RedisPrefix: "vedfolnir:", DatabaseURL: "/var/lib/app/sessions.db"}},
		{"rollback: database despite both", map[string]string{"SESSION_STORAGE": " database ", "REDIS_URL": "redis://h", "DATABASE_URL": "s.db"},
			storage.Config{Mode: storage.ModeDatabase, RedisURL: "redis://h", DatabaseURL: "s.db"}},
		{"redis despite both", map[string]string{"SESSION_STORAGE": "redis", "REDIS_URL": "redis://h", "DATABASE_URL": "s.db"},
			storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://h", RedisPrefix: "vedfolnir:", DatabaseURL: "s.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := storage.ConfigFromEnv(lookup(tc.env), opts)
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigFromEnvErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		varName string
	}{
		{map[string]string{"SESSION_STORAGE": "memcached"}, "SESSION_STORAGE"},
		{map[string]string{"SESSION_STORAGE": "redis"}, "REDIS_URL"},
		{map[string]string{"SESSION_STORAGE": "hybrid", "DATABASE_URL": "x.db"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_SESSION_PREFIX": "has space:"}, "REDIS_SESSION_PREFIX"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_SESSION_PREFIX": "{tag}:"}, "REDIS_SESSION_PREFIX"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_SESSION_PREFIX": strings.Repeat("p", 43)}, "REDIS_SESSION_PREFIX"},
	} {
		_, err := storage.ConfigFromEnv(lookup(tc.env), storage.Options{})
		if !errors.Is(err, storage.ErrConfig) || !strings.Contains(err.Error(), tc.varName) {
			t.Errorf("env %v: got %v, want an ErrConfig naming %s", tc.env, err, tc.varName)
		}
	}
}

// Bad URLs are found when the storage opens, and the error names the
// variable (without repeating a password).
func TestFromEnvBadURLs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		env     map[string]string
		varName string
	}{
		{map[string]string{"SESSION_STORAGE": "redis", "REDIS_URL": "http://user:secret@h"}, "REDIS_URL"},
		{map[string]string{"SESSION_STORAGE": "database", "DATABASE_URL": "mysql://user:secret@h/db?multiStatements=true"}, "DATABASE_URL"},
		{map[string]string{"SESSION_STORAGE": "hybrid", "DATABASE_URL": filepath.Join(t.TempDir(), "s.db"), "REDIS_URL": "redis+bogus://user:secret@h"}, "REDIS_URL"},
	} {
		st, err := storage.FromEnv(ctx, storage.Options{Lookup: lookup(tc.env)})
		if err == nil {
			_ = st.Close()
			t.Errorf("env %v: FromEnv succeeded", tc.env)
			continue
		}
		if !strings.Contains(err.Error(), tc.varName) || strings.Contains(err.Error(), "secret") {
			t.Errorf("env %v: got %q, want it to name %s and hide the password", tc.env, err, tc.varName)
		}
	}
}

// Every mode opens from the environment with real servers and reports what
// it runs on.
func TestFromEnvModes(t *testing.T) {
	ctx := context.Background()
	rURL, prefix := redisURL(t), "envmodes"+strings.TrimSuffix(strings.ReplaceAll(t.Name(), "/", ""), ":")+":"
	dbPath := sqlitePath(t)
	for _, tc := range []struct {
		env                  map[string]string
		mode                 storage.Mode
		redis, db, fb, broke bool
	}{
		{map[string]string{"DATABASE_URL": dbPath}, storage.ModeDatabase, false, true, false, false},
		{map[string]string{"SESSION_STORAGE": "redis", "REDIS_URL": rURL, "REDIS_SESSION_PREFIX": prefix}, storage.ModeRedis, true, false, false, true},
		{map[string]string{"REDIS_URL": rURL, "REDIS_SESSION_PREFIX": prefix, "DATABASE_URL": dbPath}, storage.ModeHybrid, true, true, true, true},
	} {
		st, err := storage.FromEnv(ctx, storage.Options{Lookup: lookup(tc.env)})
		if err != nil {
			t.Fatalf("%s: FromEnv: %v", tc.mode, err)
		}
		if st.Mode() != tc.mode {
			t.Errorf("mode %s, want %s", st.Mode(), tc.mode)
		}
		if (st.RedisClient() != nil) != tc.redis || (st.DB() != nil) != tc.db || (st.Hybrid() != nil) != tc.fb || (st.Broker() != nil) != tc.broke {
			t.Errorf("%s: redis %v db %v hybrid %v broker %v; want %v %v %v %v", tc.mode,
				st.RedisClient() != nil, st.DB() != nil, st.Hybrid() != nil, st.Broker() != nil, tc.redis, tc.db, tc.fb, tc.broke)
		}
		if h := st.Health(ctx); h.Status != "ok" || h.Storage != tc.mode {
			t.Errorf("%s: health %+v, want ok", tc.mode, h)
		}
		if err := st.Close(); err != nil {
			t.Errorf("%s: Close: %v", tc.mode, err)
		}
	}
}

// The generation namespaces keep the prefix rule: a prefix ending in
// "session:" keeps it last.
func TestNamespacePrefix(t *testing.T) {
	for _, tc := range []struct {
		base string
		gen  uint64
		want string
	}{
		{"vedfolnir:", 1, "vedfolnir:"},
		{"vedfolnir:", 2, "vedfolnir:g2:"},
		{"vedfolnir:session:", 1, "vedfolnir:session:"},
		{"vedfolnir:session:", 12, "vedfolnir:g12:session:"},
	} {
		if got := storage.NamespacePrefix(tc.base, tc.gen); got != tc.want {
			t.Errorf("NamespacePrefix(%q, %d) = %q, want %q", tc.base, tc.gen, got, tc.want)
		}
	}
}

func TestSQLiteFile(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		ok        bool
	}{
		{"sessions.db", "sessions.db", true},
		{"/var/lib/s.db", "/var/lib/s.db", true},
		{"sqlite:///var/lib/s.db", "/var/lib/s.db", true},
		{"sqlite://s.db?_pragma=x", "s.db", true},
		{"file:s.db?mode=rwc", "s.db", true},
		{":memory:", "", false},
		{"sqlite://:memory:", "", false},
		{"postgres://u@h/db", "", false},
		{"", "", false},
	} {
		got, ok := storage.SQLiteFile(tc.url)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SQLiteFile(%q) = %q, %v; want %q, %v", tc.url, got, ok, tc.want, tc.ok)
		}
	}
}
