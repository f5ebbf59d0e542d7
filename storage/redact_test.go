package storage_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/storage"
)

// A secret in REDIS_URL or DATABASE_URL, in any form (user info, a
// password-like query key, a URL that does not parse), is in no error and
// no log line of a failed start.
func TestURLSecretsNeverShown(t *testing.T) {
	const secret = "S3cr3tPW"
	cases := []struct {
		name string
		cfg  storage.Config
	}{
		{"redis user info", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://:" + secret + "@127.0.0.1:1/0"}},
		{"redis user and password", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://app:" + secret + "@127.0.0.1:1"}},
		{"redis lone user info", storage.Config{Mode: storage.ModeRedis, RedisURL: "rediss://" + secret + "@127.0.0.1:1"}},
		{"redis query password", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://127.0.0.1:1/0?password=" + secret}},
		{"sentinel passwords", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis+sentinel://127.0.0.1:1?master_name=m&password=" + secret + "&sentinel_password=" + secret}},
		{"cluster", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis+cluster://:" + secret + "@127.0.0.1:1,127.0.0.1:2"}},
		{"redis bad port", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://app:" + secret + "@127.0.0.1:port"}},
		{"redis unparsable", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://app:" + secret + "%zz@127.0.0.1:1"}},
		{"redis spaces", storage.Config{Mode: storage.ModeRedis, RedisURL: "redis://app:" + secret + " x@127.0.0.1:1"}},
		{"postgres user info", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgres://app:" + secret + "@127.0.0.1:1/db"}},
		{"postgres query password", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgres://app@127.0.0.1:1/db?password=" + secret}},
		{"postgres sslpassword", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgresql://app@127.0.0.1:1/db?sslmode=require&sslpassword=" + secret}},
		{"postgres bad port", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgres://app:" + secret + "@127.0.0.1:port/db"}},
		{"postgres unparsable", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "postgres://app:" + secret + "%zz@127.0.0.1:1/db"}},
		{"mysql user info", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "mysql://app:" + secret + "@127.0.0.1:1/db"}},
		{"mysql query password", storage.Config{Mode: storage.ModeDatabase, DatabaseURL: "mysql://app@127.0.0.1:1/db?password=" + secret}},
		{"hybrid", storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://:" + secret + "@127.0.0.1:1", DatabaseURL: "postgres://app:" + secret + "@127.0.0.1:1/db"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := storage.Open(ctx, tc.cfg, storage.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if err == nil {
				_ = st.Close()
				t.Fatalf("opened with an unreachable server")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
			if strings.Contains(log.String(), secret) {
				t.Errorf("log shows the secret:\n%s", log.String())
			}
		})
	}
}
