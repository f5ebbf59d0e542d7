package ginsession_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// A session ended by a fingerprint mismatch is ended by a tombstone, like
// every other end: in hybrid mode (Redis + SQLite), neither an outage
// during the mismatch nor one right after it lets recovery bring the
// session back.
func TestFingerprintEndHybridNoResurrection(t *testing.T) {
	for _, during := range []bool{true, false} {
		name := map[bool]string{true: "mismatch during an outage", false: "outage after the mismatch"}[during]
		t.Run(name, func(t *testing.T) {
			rp := testserver.StartRedis(t)
			o := storage.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			o.Hybrid.ProbeInterval = 100 * time.Millisecond
			o.Hybrid.GenerationInterval = 100 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := storage.Open(ctx, storage.Config{Mode: storage.ModeHybrid, RedisURL: "redis://" + rp.Addr,
				RedisPrefix: "fp:", DatabaseURL: filepath.Join(t.TempDir(), "s.db")}, o)
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			a := newApp(t, st.Store(), func(c *ginsession.Config) {
				c.Fingerprint = ginsession.FingerprintOptions{Enabled: true}
				c.StoreTimeout = time.Second
			})
			owner := a.client()
			ua := http.Header{"User-Agent": {"browser-A"}}
			owner.do("POST", "/login/7", ua)
			_, body := owner.do("GET", "/whoami", ua)
			require.Equal(t, "7", body)
			time.Sleep(300 * time.Millisecond) // the SQL mirror catches up

			thief := a.client()
			thief.setCookie(owner.cookie())
			if during {
				rp.Freeze()
			}
			_, body = thief.do("GET", "/whoami", http.Header{"User-Agent": {"curl/8"}})
			assert.Equal(t, "anonymous", body)
			if !during {
				e, err := a.store.Store.Get(ctx, store.KeyFromToken(owner.cookie()))
				require.NoError(t, err, "a tombstone, not a plain delete, ends it")
				assert.Empty(t, e.UserID)
				time.Sleep(300 * time.Millisecond)
				rp.Freeze()
			}
			_, body = owner.do("GET", "/whoami", ua)
			assert.Equal(t, "anonymous", body, "during the outage")
			rp.Thaw()
			deadline := time.Now().Add(15 * time.Second)
			for st.Hybrid().Engaged() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			require.False(t, st.Hybrid().Engaged(), "recovered")
			_, body = owner.do("GET", "/whoami", ua)
			assert.Equal(t, "anonymous", body, "after recovery")
			assertEnded(t, a, owner.cookie())
		})
	}
}
