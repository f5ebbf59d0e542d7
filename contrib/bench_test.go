package contrib_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-contrib/sessions"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/internal/testserver"
)

// BenchmarkRedis puts the drop-in on Redis beside the store it replaces,
// gin-contrib's Redis store (boj/redistore on redigo), on the same
// redis-server, behind the same gin-contrib app: read is a request that
// reads the session, write one that changes and saves it.
func BenchmarkRedis(b *testing.B) {
	peers := []struct {
		name  string
		store func(b *testing.B) sessions.Store
	}{
		{"ours-dropin", func(b *testing.B) sessions.Store {
			return newStore(b, openRedis(b), keyring(b), contrib.Options{})
		}},
		{"gincontrib-redis", func(b *testing.B) sessions.Store {
			return oldRedisStore(b, testserver.Prefix(b))
		}},
	}
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			h := counterApp(p.store(b))
			res := httptest.NewRecorder()
			h.ServeHTTP(res, httptest.NewRequestWithContext(context.Background(), "GET", "/incr", nil))
			cookies := res.Result().Cookies()
			if res.Code != http.StatusOK || len(cookies) != 1 {
				b.Fatalf("first save: %d %v", res.Code, cookies)
			}
			for _, op := range []string{"read", "write"} {
				path := map[string]string{"read": "/count", "write": "/incr"}[op]
				b.Run(op, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						req := httptest.NewRequestWithContext(context.Background(), "GET", path, nil)
						req.AddCookie(cookies[0])
						res := httptest.NewRecorder()
						h.ServeHTTP(res, req)
						if res.Code != http.StatusOK {
							b.Fatalf("%s: %d %s", op, res.Code, res.Body)
						}
					}
				})
			}
		})
	}
}
