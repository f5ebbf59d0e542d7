package redisstore_test

import (
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// printable reports whether s is printable ASCII without spaces, quotes,
// backslashes, braces or glob characters.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || strings.IndexByte(`"'\{}*?[]`, c) >= 0 {
			return false
		}
	}
	return true
}

// Every key name is printable and has the seed's shape under both the
// default prefix and the seed's own REDIS_SESSION_PREFIX.
func TestKeyNames(t *testing.T) {
	keys := []string{store.NewToken().Key(), store.NewToken().Key(),
		strings.Repeat("A", 43), strings.Repeat("_", 42) + "w"}
	for _, tc := range []struct {
		prefix, sess, users string
	}{
		{"", "vedfolnir:session:", "vedfolnir:users:"},
		{"vedfolnir:", "vedfolnir:session:", "vedfolnir:users:"},
		{"vedfolnir:session:", "vedfolnir:session:", "vedfolnir:users:"},
		{"app:", "app:session:", "app:users:"},
		{"app:sessions:", "app:sessions:session:", "app:sessions:users:"},
		{"session:", "session:", "users:"},
		{"x-session:", "x-session:", "x-users:"},
	} {
		if got := redisstore.SessionKeyPrefix(tc.prefix); got != tc.sess {
			t.Errorf("SessionKeyPrefix(%q) = %q, want %q", tc.prefix, got, tc.sess)
		}
		for _, k := range keys {
			name := redisstore.KeyName(tc.prefix, k)
			if !strings.HasPrefix(name, tc.sess) || len(name) != len(tc.sess)+redisstore.IDLen || !printable(name) {
				t.Errorf("KeyName(%q, %s) = %q: want %s + %d printable characters", tc.prefix, k, name, tc.sess, redisstore.IDLen)
			}
			if want := sessionKeyName(tc.prefix, k); name != want {
				t.Errorf("KeyName(%q, %s) = %q, want %q", tc.prefix, k, name, want)
			}
			if !redisstore.IsKeyName(tc.prefix, name) {
				t.Errorf("IsKeyName(%q, %q) = false", tc.prefix, name)
			}
		}
		idx := redisstore.IndexKeyName(tc.prefix, "1")
		if !strings.HasPrefix(idx, tc.users) || len(idx) != len(tc.users)+4 || !printable(idx) {
			t.Errorf("IndexKeyName(%q) = %q, want %s + 4 hex digits", tc.prefix, idx, tc.users)
		}
		if want := userIndexKey(tc.prefix, "1"); idx != want {
			t.Errorf("IndexKeyName(%q) = %q, want %q", tc.prefix, idx, want)
		}
	}
	// The seed's default-prefix key name stays within 44 bytes (Redis's
	// 48-byte allocation class).
	if n := len(redisstore.KeyName("", keys[0])); n > 44 {
		t.Errorf("seed key name is %d bytes, want <= 44", n)
	}
}

// IsKeyName refuses every name that is not shaped like a session key of
// the prefix.
func TestIsKeyNameRefuses(t *testing.T) {
	good := redisstore.KeyName("", store.NewToken().Key())
	id := strings.TrimPrefix(good, "vedfolnir:session:")
	for _, name := range []string{
		"",
		"vedfolnir:session:",
		"other:session:" + id,
		"vedfolnir:s:" + id,
		good[:len(good)-1],
		good + "A",
		"vedfolnir:session:" + id[:25] + "!",
		"vedfolnir:session:" + id[:25] + " ",
		"vedfolnir:users:0abc",
	} {
		if redisstore.IsKeyName("", name) {
			t.Errorf("IsKeyName(%q) = true", name)
		}
	}
	if !redisstore.IsKeyName("vedfolnir:session:", good) {
		t.Errorf("IsKeyName under the seed prefix refused %q", good)
	}
	if redisstore.KeyName("", "not a key") != "" || redisstore.IndexMember("1", "x") != "" {
		t.Error("a malformed store key got a name")
	}
}
