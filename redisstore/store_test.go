package redisstore_test

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// User ids that look like patterns or key separators list and delete only
// their own sessions, and never appear in a key.
func TestHostileUserIDs(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c)
	prefix := testserver.Prefix(t)
	ctx := tctx(t)
	ids := []string{"*", "a:b", "a", "b", "a:b:c", "a*", "user_sessions:*"}
	keys := map[string][]string{}
	for _, id := range ids {
		for range 2 {
			e := entry(id, 16)
			mustPut(t, s, e, 0)
			keys[id] = append(keys[id], e.Key)
		}
	}
	for _, id := range ids {
		list, err := s.ListUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list {
			got = append(got, e.Key)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(keys[id]))
		if !slices.Equal(got, want) {
			t.Errorf("ListUser(%q) = %v, want %v", id, got, want)
		}
	}
	for _, id := range []string{"*", "a:b"} {
		n, err := s.DeleteUser(ctx, id, "")
		if err != nil || n != 2 {
			t.Errorf("DeleteUser(%q) = %d, %v; want 2, nil", id, n, err)
		}
	}
	for _, id := range ids {
		list, _ := s.ListUser(ctx, id)
		want := 2
		if id == "*" || id == "a:b" {
			want = 0
		}
		if len(list) != want {
			t.Errorf("after deleting * and a:b, ListUser(%q) has %d entries, want %d", id, len(list), want)
		}
	}
	// Every key under the prefix is a session key (a store key) or an
	// index key (a hash): no user id byte.
	var all []string
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		all = append(all, iter.Val())
	}
	for _, k := range all {
		rest := strings.TrimPrefix(k, namespace(prefix))
		name, id, _ := strings.Cut(rest, ":")
		isSession := redisstore.IsKeyName(prefix, k)
		isBucket := name == "users" && len(id) == 4 && strings.Trim(id, "0123456789abcdef") == ""
		if !isSession && !isBucket || !printable(k) {
			t.Errorf("unexpected key %q", k)
		}
	}
	if n, _ := c.Exists(ctx, userIndexKey(prefix, "a")).Result(); n != 1 {
		t.Errorf("index of user \"a\" not at %s", userIndexKey(prefix, "a"))
	}
}

// Every key gets the entry's nearest deadline as its TTL, and the index
// key lives until its last member's absolute deadline.
func TestTTLs(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c)
	prefix := testserver.Prefix(t)
	ctx := tctx(t)
	e := entry("ttl", 16)
	e.IdleDeadline = store.Millis(time.Now().Add(10 * time.Minute))
	e.AbsoluteDeadline = store.Millis(time.Now().Add(time.Hour))
	mustPut(t, s, e, 0)
	near := func(key string, want time.Duration) {
		t.Helper()
		got, err := c.PTTL(ctx, key).Result()
		if err != nil || got > want || got < want-5*time.Second {
			t.Errorf("PTTL %s = %v, %v; want about %v", key, got, err, want)
		}
	}
	near(sessionKeyName(prefix, e.Key), 10*time.Minute)
	near(userIndexKey(prefix, "ttl"), time.Hour)
	if err := s.Touch(ctx, e.Key, time.Now(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	near(sessionKeyName(prefix, e.Key), time.Hour) // capped by the absolute deadline
}

// Extreme but valid times and versions survive the Lua rewrite exactly.
func TestEdgeValues(t *testing.T) {
	s := newStore(t, newClient(t))
	ctx := tctx(t)
	e := entry("edge", 0)
	e.Created = time.Time{}.UTC() // year 1
	e.Version = math.MaxUint64 - 1
	e.AbsoluteDeadline = time.Date(30000, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Payload = nil
	mustPut(t, s, e, 0)
	now := store.Millis(time.Now())
	got, err := s.GetTouch(ctx, e.Key, now, 1000*time.Hour, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := e.Clone()
	want.LastActivity, want.IdleDeadline = now, now.Add(1000*time.Hour)
	if got.Version != want.Version || !got.Created.Equal(want.Created) || !got.LastActivity.Equal(want.LastActivity) ||
		!got.IdleDeadline.Equal(want.IdleDeadline) || !got.AbsoluteDeadline.Equal(want.AbsoluteDeadline) || len(got.Payload) != 0 {
		t.Errorf("GetTouch:\n got %+v\nwant %+v", got, want)
	}
	next := e.Clone()
	next.Version = math.MaxUint64
	mustPut(t, s, next, math.MaxUint64-1)

	bad := entry("edge", 8)
	bad.AbsoluteDeadline = time.Date(50000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Put(ctx, bad, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Put with a deadline in year 50000: %v, want ErrInvalid", err)
	}
}

// Bytes that are not an entry are ErrCorrupt for every reader and never
// make a script fail; CopyIn may replace them, Delete removes them.
func TestCorruptValues(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c)
	prefix := testserver.Prefix(t)
	ctx := tctx(t)
	for _, raw := range []string{"", "\xa1", "\xa1\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff", "hello world", "\xa8\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00\x09x"} {
		key := store.NewToken().Key()
		if err := c.Set(ctx, sessionKeyName(prefix, key), raw, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, key)
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s on %q: %v, want ErrCorrupt", op, raw, err)
			}
		}
		check("Get", err)
		_, err = s.GetTouch(ctx, key, time.Now(), time.Hour, time.Now().Add(time.Hour))
		check("GetTouch", err)
		check("Touch", s.Touch(ctx, key, time.Now(), time.Now().Add(time.Hour)))
		e := entry("u", 8)
		e.Key = key
		check("Put create", s.Put(ctx, e, 0))
		n := e.Clone()
		n.Version = 5
		check("Put update", s.Put(ctx, n, 4))
		if wrote, err := s.CopyIn(ctx, e); err != nil || !wrote {
			t.Errorf("CopyIn over %q: %v, %v; want true, nil", raw, wrote, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
}

// Errors carry the package prefix and the operation, and errors.Is finds
// the sentinel; redis.Nil never escapes.
func TestErrors(t *testing.T) {
	s := newStore(t, newClient(t))
	_, err := s.Get(tctx(t), store.NewToken().Key())
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, redis.Nil) || err.Error() != "redisstore: get: store: not found" {
		t.Errorf("Get missing: %v", err)
	}
	e := entry("u", 8)
	mustPut(t, s, e, 0)
	err = s.Put(tctx(t), e, 0)
	if !errors.Is(err, store.ErrConflict) || !strings.HasPrefix(err.Error(), "redisstore: put: ") {
		t.Errorf("create over a live entry: %v", err)
	}
	big := entry("u", 0)
	big.Payload = make([]byte, 101)
	small, err := redisstore.New(newClient(t), redisstore.Options{Prefix: testserver.Prefix(t), MaxPayload: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Put(tctx(t), big, 0); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Put over MaxPayload: %v", err)
	}
}

func TestOptions(t *testing.T) {
	c := newClient(t)
	for _, p := range []string{"a b", "{x}", "a*", "é", strings.Repeat("p", redisstore.MaxPrefixLen+1), "x\x00"} {
		if _, err := redisstore.New(c, redisstore.Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil {
		t.Error("nil client accepted")
	}
	t.Setenv(redisstore.EnvPrefix, "bad prefix")
	if _, err := redisstore.OptionsFromEnv(); err == nil || !strings.Contains(err.Error(), redisstore.EnvPrefix) {
		t.Errorf("bad %s: %v", redisstore.EnvPrefix, err)
	}
	t.Setenv(redisstore.EnvPrefix, "app:")
	if o, err := redisstore.OptionsFromEnv(); err != nil || o.Prefix != "app:" {
		t.Errorf("OptionsFromEnv = %+v, %v", o, err)
	}
	t.Setenv(redisstore.EnvURL, "")
	if _, err := redisstore.NewFromEnv(); err == nil || !strings.Contains(err.Error(), redisstore.EnvURL) {
		t.Errorf("NewFromEnv without %s: %v", redisstore.EnvURL, err)
	}
}

func TestNewFromURL(t *testing.T) {
	addr := testserver.Redis(t)
	cluster := testserver.RedisCluster(t)
	prefix := testserver.Prefix(t)
	works := func(s *redisstore.Store) {
		t.Helper()
		e := entry("u", 8)
		mustPut(t, s, e, 0)
		if _, err := s.Get(tctx(t), e.Key); err != nil {
			t.Error(err)
		}
	}
	if os.Getenv("REDIS_URL") == "" {
		s, err := redisstore.NewFromURL("redis://"+addr+"/0", redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		o := s.Client().(*redis.Client).Options()
		// go-redis turns MaxRetries -1 into 0 (no retries) when it builds the client.
		if o.ReadTimeout != redisstore.DefaultReadTimeout || o.MaxRetries > 0 || !o.ContextTimeoutEnabled || o.Protocol != 2 {
			t.Errorf("fail-fast defaults not applied: %+v", o)
		}
		works(s)
		_ = s.Close()
		if err := s.Ping(tctx(t)); !errors.Is(err, redis.ErrClosed) {
			t.Errorf("Ping after Close of an owned client: %v", err)
		}
	}
	s, err := redisstore.NewFromURL("redis://"+addr+"?read_timeout=2s&protocol=3", redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Client().(*redis.Client).Options(); o.ReadTimeout != 2*time.Second || o.DialTimeout != redisstore.DefaultDialTimeout || o.Protocol != 3 {
		t.Errorf("URL setting overridden: read %v, dial %v, protocol %d", o.ReadTimeout, o.DialTimeout, o.Protocol)
	}
	works(s)
	_ = s.Close()

	for _, u := range []string{
		"redis+cluster://" + cluster[0] + "?addr=" + cluster[1] + "&addr=" + cluster[2],
		"redis://" + cluster[0] + "?addr=" + cluster[1],
	} {
		s, err := redisstore.NewFromURL(u, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if _, ok := s.Client().(*redis.ClusterClient); !ok {
			t.Errorf("%s: %T, want a cluster client", u, s.Client())
		}
		works(s)
		_ = s.Close()
	}
	s, err = redisstore.NewFromURL("rediss://user:secret@127.0.0.1:1", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Client().(*redis.Client).Options(); o.TLSConfig == nil || o.Password != "secret" {
		t.Errorf("rediss: TLS %v", o.TLSConfig)
	}
	_ = s.Close()

	for _, u := range []string{"http://x", "redis+foo://127.0.0.1:1", "redis+sentinel://127.0.0.1:1", "redis://:pw@[::1", "redis://x?bogus=1"} {
		if _, err := redisstore.NewFromURL(u, redisstore.Options{}); err == nil {
			t.Errorf("%s accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error shows the password: %v", u, err)
		}
	}
}

// collidingUsers returns two user ids whose index members share a bucket
// and a tag (29 bits: a birthday search over a few tens of thousands ids).
func collidingUsers(t *testing.T) (string, string) {
	t.Helper()
	probe := store.NewToken().Key()
	seen := map[string]string{}
	for i := range 1 << 20 {
		id := "user-" + strconv.Itoa(i)
		sig := redisstore.IndexKeyName("", id) + "|" + redisstore.IndexMember(id, probe)[:2]
		if other, ok := seen[sig]; ok {
			return other, id
		}
		seen[sig] = id
	}
	t.Fatal("no colliding user ids found")
	return "", ""
}

// Two users whose hashes share a bucket and a member tag (1 pair in 2^29)
// keep each other's members: listing or deleting one never unlists the
// other's sessions.
func TestIndexTagCollision(t *testing.T) {
	s := newStore(t, newClient(t))
	ctx := tctx(t)
	a, b := collidingUsers(t)
	ea, eb := entry(a, 8), entry(b, 8)
	mustPut(t, s, ea, 0)
	mustPut(t, s, eb, 0)
	keys := func(uid string) []string {
		t.Helper()
		list, err := s.ListUser(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list {
			out = append(out, e.Key)
		}
		return out
	}
	for range 2 { // the second round sees what the first one pruned
		if got := keys(a); !slices.Equal(got, []string{ea.Key}) {
			t.Fatalf("ListUser(%q) = %v, want [%s]", a, got, ea.Key)
		}
		if got := keys(b); !slices.Equal(got, []string{eb.Key}) {
			t.Fatalf("ListUser(%q) = %v, want [%s]", b, got, eb.Key)
		}
	}
	if n, err := s.DeleteUser(ctx, a, ""); err != nil || n != 1 {
		t.Fatalf("DeleteUser(%q) = %d, %v; want 1", a, n, err)
	}
	if got := keys(b); !slices.Equal(got, []string{eb.Key}) {
		t.Fatalf("after DeleteUser(%q): ListUser(%q) = %v, want [%s]", a, b, got, eb.Key)
	}
	if got := keys(a); len(got) != 0 {
		t.Fatalf("after DeleteUser(%q): ListUser(%q) = %v, want none", a, a, got)
	}
}
