package storage_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// phase restarts the application in mode (same servers, same key ring,
// same browsers) and returns it; the previous app is stopped first.
func phase(t *testing.T, prev *app, env map[string]string, mode storage.Mode, kr *store.Keyring) *app {
	t.Helper()
	if prev != nil {
		prev.stop(t)
	}
	e := maps.Clone(env)
	e["SESSION_STORAGE"] = string(mode)
	o := storage.Options{Logger: quiet}
	fastHybrid(&o)
	a := startApp(t, e, kr, o)
	if a.st.Mode() != mode {
		t.Fatalf("mode %s, want %s", a.st.Mode(), mode)
	}
	t.Cleanup(func() { a.srv.Close(); _ = a.st.Close() })
	return a
}

// hybrid → database (rollback) → hybrid: every session keeps its latest
// values, a logout in database mode stays a logout, a session created in
// database mode lives on, and the Redis copies from before the rollback,
// which are still there, are never served.
func TestModeSwitchHybridDatabaseHybrid(t *testing.T) {
	rURL := redisURL(t)
	prefix := testserver.Prefix(t)
	env := map[string]string{"REDIS_URL": rURL, "REDIS_SESSION_PREFIX": prefix, "DATABASE_URL": sqlitePath(t)}
	kr := testapp.Keyring(t)
	bs := make([]*browser, 6)

	a := phase(t, nil, env, storage.ModeHybrid, kr)
	for i := range bs {
		bs[i] = newBrowser(t)
		bs[i].must(a, "POST", fmt.Sprintf("/login/%d", i), 200)
		bs[i].must(a, "POST", fmt.Sprintf("/v/color?v=red-%d", i), 200)
	}
	oldKeys := make([]string, len(bs))
	for i, b := range bs {
		oldKeys[i] = b.key(a)
	}
	gen1 := a.st.Generation()

	a = phase(t, a, env, storage.ModeDatabase, kr)
	for i, b := range bs {
		if got := b.must(a, "GET", "/v/color", 200); got != fmt.Sprintf("red-%d", i) {
			t.Fatalf("database mode, browser %d: color %q", i, got)
		}
	}
	bs[0].must(a, "POST", "/v/color?v=blue-0", 200)
	bs[1].must(a, "POST", "/v/color?v=blue-1", 200)
	bs[2].must(a, "POST", "/logout", 200)
	late := newBrowser(t)
	late.must(a, "POST", "/login/99", 200)
	late.must(a, "POST", "/v/color?v=born-in-database", 200)

	a = phase(t, a, env, storage.ModeHybrid, kr)
	if a.st.Generation() <= gen1 {
		t.Fatalf("hybrid after database mode uses generation %d, want above %d", a.st.Generation(), gen1)
	}
	raw := rawClient(t, testserver.Redis(t))
	for _, i := range []int{0, 1, 2} {
		if !rawExists(t, raw, redisstore.KeyName(storage.NamespacePrefix(prefix, gen1), oldKeys[i])) {
			t.Fatalf("the pre-rollback Redis copy of browser %d is gone: nothing stale to avoid", i)
		}
	}
	want := map[int]string{0: "blue-0", 1: "blue-1", 3: "red-3", 4: "red-4", 5: "red-5"}
	for i, b := range bs {
		code, got := b.do(a, "GET", "/v/color")
		who := b.must(a, "GET", "/whoami", 200)
		if i == 2 {
			if code != 404 || who != "anonymous" {
				t.Errorf("browser 2 logged out in database mode: color %d %q, user %q; want no session", code, got, who)
			}
			continue
		}
		if code != 200 || got != want[i] || who != fmt.Sprint(i) {
			t.Errorf("browser %d: color %d %q user %q; want %q user %d", i, code, got, who, want[i], i)
		}
	}
	if got := late.must(a, "GET", "/v/color", 200); got != "born-in-database" {
		t.Errorf("session created in database mode: %q", got)
	}
	// And once more in hybrid: the refilled namespace serves the same.
	a = phase(t, a, env, storage.ModeHybrid, kr)
	for i, b := range bs {
		if i != 2 {
			if got := b.must(a, "GET", "/v/color", 200); got != want[i] {
				t.Errorf("second hybrid restart, browser %d: %q, want %q", i, got, want[i])
			}
		}
	}
}

// redis → hybrid → database: sessions that exist only in Redis are copied
// into SQL when used in hybrid mode and survive the switch to database
// mode; a logout in hybrid mode stays one.
func TestModeSwitchRedisHybridDatabase(t *testing.T) {
	env := map[string]string{"REDIS_URL": redisURL(t), "REDIS_SESSION_PREFIX": testserver.Prefix(t), "DATABASE_URL": sqlitePath(t)}
	kr := testapp.Keyring(t)
	bs := make([]*browser, 6)

	a := phase(t, nil, env, storage.ModeRedis, kr)
	for i := range bs {
		bs[i] = newBrowser(t)
		bs[i].must(a, "POST", fmt.Sprintf("/login/%d", i), 200)
		bs[i].must(a, "POST", fmt.Sprintf("/v/color?v=red-%d", i), 200)
	}

	a = phase(t, a, env, storage.ModeHybrid, kr)
	sec := a.st.Hybrid().Secondary()
	for i, b := range bs[:4] {
		if _, err := sec.Get(ctxT(t), b.key(a)); err == nil {
			t.Fatalf("browser %d's Redis-only session already in SQL before use", i)
		}
		if got := b.must(a, "GET", "/v/color", 200); got != fmt.Sprintf("red-%d", i) {
			t.Fatalf("hybrid, browser %d: color %q", i, got)
		}
	}
	bs[0].must(a, "POST", "/v/color?v=green-0", 200)
	bs[1].must(a, "POST", "/logout", 200)
	for _, i := range []int{0, 2, 3} {
		if _, err := sec.Get(ctxT(t), bs[i].key(a)); err != nil {
			t.Errorf("browser %d's session not in SQL after use in hybrid mode: %v", i, err)
		}
	}

	a = phase(t, a, env, storage.ModeDatabase, kr)
	want := map[int]string{0: "green-0", 2: "red-2", 3: "red-3"}
	for i, v := range want {
		if got := bs[i].must(a, "GET", "/v/color", 200); got != v {
			t.Errorf("database mode, browser %d: %q, want %q", i, got, v)
		}
		if who := bs[i].must(a, "GET", "/whoami", 200); who != fmt.Sprint(i) {
			t.Errorf("database mode, browser %d: user %q", i, who)
		}
	}
	if who := bs[1].must(a, "GET", "/whoami", 200); who != "anonymous" {
		t.Errorf("browser 1 logged out in hybrid mode is %q in database mode", who)
	}
	// Browsers 4 and 5 never came back during the hybrid period: their
	// sessions were only ever in Redis (the documented limit of a direct
	// redis → database path).
	for _, i := range []int{4, 5} {
		if who := bs[i].must(a, "GET", "/whoami", 200); who != "anonymous" {
			t.Errorf("browser %d (never used in hybrid mode) is %q in database mode; the test's premise is broken", i, who)
		}
	}
}

// hybrid → redis → hybrid → database: SQL keeps copies from the first
// hybrid period. A logout in redis mode must not be undone by them (the
// trust cut-off), in hybrid mode or in database mode after it: a replay of
// the logged-out cookie finds no session.
func TestModeSwitchHybridRedisHybridDatabase(t *testing.T) {
	env := map[string]string{"REDIS_URL": redisURL(t), "REDIS_SESSION_PREFIX": testserver.Prefix(t), "DATABASE_URL": sqlitePath(t)}
	kr := testapp.Keyring(t)
	bs := make([]*browser, 3)

	a := phase(t, nil, env, storage.ModeHybrid, kr)
	for i := range bs {
		bs[i] = newBrowser(t)
		bs[i].must(a, "POST", fmt.Sprintf("/login/%d", i), 200)
		bs[i].must(a, "POST", fmt.Sprintf("/v/color?v=red-%d", i), 200)
	}
	stolen := bs[0].token(a)
	a = phase(t, a, env, storage.ModeRedis, kr)
	bs[0].must(a, "POST", "/logout", 200)
	bs[1].must(a, "POST", "/v/color?v=purple-1", 200)

	a = phase(t, a, env, storage.ModeHybrid, kr)
	if _, err := a.st.Hybrid().Secondary().Get(ctxT(t), store.KeyFromToken(stolen)); err != nil {
		t.Fatalf("SQL should still hold browser 0's pre-logout copy (the zombie to avoid): %v", err)
	}
	replay := newBrowser(t)
	replay.setToken(a, stolen)
	if who := replay.must(a, "GET", "/whoami", 200); who != "anonymous" {
		t.Fatalf("logout made in redis mode undone in hybrid mode: the old cookie is user %q", who)
	}
	if got := bs[1].must(a, "GET", "/v/color", 200); got != "purple-1" {
		t.Errorf("browser 1 in hybrid: %q, want purple-1", got)
	}
	if got := bs[2].must(a, "GET", "/v/color", 200); got != "red-2" {
		t.Errorf("browser 2 in hybrid: %q, want red-2", got)
	}

	a = phase(t, a, env, storage.ModeDatabase, kr)
	replay = newBrowser(t)
	replay.setToken(a, stolen)
	if who := replay.must(a, "GET", "/whoami", 200); who != "anonymous" {
		t.Errorf("logout made in redis mode undone in database mode: the old cookie is user %q", who)
	}
	if got := bs[1].must(a, "GET", "/v/color", 200); got != "purple-1" {
		t.Errorf("browser 1 in database mode: %q, want purple-1", got)
	}
	if got := bs[2].must(a, "GET", "/v/color", 200); got != "red-2" {
		t.Errorf("browser 2 in database mode: %q, want red-2", got)
	}
}

// hybrid → redis → (Redis restarts empty) → hybrid: Redis lost its mode
// record with its data, but redis mode also marked SQL stale (DATABASE_URL
// was set), so the SQL copies from before the redis period are not served:
// not the logged-out session, not the value changed in Redis since.
func TestModeSwitchRedisDataLossNoZombie(t *testing.T) {
	rp := testserver.StartRedis(t)
	env := map[string]string{"REDIS_URL": "redis://" + rp.Addr, "REDIS_SESSION_PREFIX": "loss:", "DATABASE_URL": sqlitePath(t)}
	kr := testapp.Keyring(t)
	b0, b1 := newBrowser(t), newBrowser(t)

	a := phase(t, nil, env, storage.ModeHybrid, kr)
	b0.must(a, "POST", "/login/0", 200)
	b1.must(a, "POST", "/login/1", 200)
	b1.must(a, "POST", "/v/color?v=red-1", 200)
	stolen := b0.token(a)

	a = phase(t, a, env, storage.ModeRedis, kr)
	b0.must(a, "POST", "/logout", 200)
	b1.must(a, "POST", "/v/color?v=purple-1", 200)
	a.stop(t)
	rp.Restart()

	a = phase(t, nil, env, storage.ModeHybrid, kr)
	if _, err := a.st.Hybrid().Secondary().Get(ctxT(t), store.KeyFromToken(stolen)); err != nil {
		t.Fatalf("SQL should still hold the pre-logout copy (the zombie to avoid): %v", err)
	}
	replay := newBrowser(t)
	replay.setToken(a, stolen)
	if who := replay.must(a, "GET", "/whoami", 200); who != "anonymous" {
		t.Errorf("logout made in redis mode undone after Redis lost its data: the old cookie is user %q", who)
	}
	if code, got := b1.do(a, "GET", "/v/color"); code == 200 && got == "red-1" {
		t.Errorf("browser 1 served its pre-redis-mode value %q", got)
	}
}
