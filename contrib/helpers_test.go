package contrib_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	testserver.Main(m)
}

// backend opens a fresh store.Store of one kind for t.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var backends = []backend{
	{"sqlite", func(t *testing.T) store.Store { return openSQLite(t) }},
	{"redis", func(t *testing.T) store.Store { return openRedis(t) }},
	{"hybrid", openHybrid},
}

func openSQLite(t testing.TB) *dbstore.Store {
	t.Helper()
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func openRedis(t testing.TB) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(testserver.RedisClient(t), redisstore.Options{Prefix: testserver.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// openHybrid is Redis serving with SQLite mirroring every session.
func openHybrid(t *testing.T) store.Store {
	t.Helper()
	h, err := hybrid.New(openRedis(t), openSQLite(t), hybrid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func keyring(t testing.TB) *store.Keyring {
	t.Helper()
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newStore(t testing.TB, st store.Store, kr *store.Keyring, opts contrib.Options) *contrib.Store {
	t.Helper()
	s, err := contrib.NewStore(st, kr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client replays cookies by hand, as a browser would, against a handler.
type client struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]string
}

func newClient(t *testing.T, h http.Handler) *client {
	return &client{t: t, h: h, cookies: map[string]string{}}
}

// do sends a request with the client's cookies, keeps the cookies the
// response sets, and returns the recorder.
func (c *client) do(method, path string) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, nil)
	var parts []string
	for k, v := range c.cookies {
		parts = append(parts, k+"="+v)
	}
	if len(parts) > 0 {
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	res := httptest.NewRecorder()
	c.h.ServeHTTP(res, req)
	for _, ck := range res.Result().Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return res
}

// body is do's response body, failing the test on a status other than 200.
func (c *client) body(method, path string) string {
	c.t.Helper()
	res := c.do(method, path)
	if res.Code != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, res.Code, res.Body.String())
	}
	return res.Body.String()
}
