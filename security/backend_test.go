package security

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// backend is one kind of store the table runs against.
type backend struct {
	name string
	// prepare readies the backend for a store-level test (starting or
	// reaching its server) and returns the factory of per-case spaces.
	prepare func(t *testing.T) func(t testing.TB) space
}

// space is a backend readied for one case. Stores opened in different
// namespaces of one space share its database or server, as two app
// instances configured with another table or prefix would.
type space interface {
	open(t testing.TB, ns string) (store.Store, rawStore)
}

// rawStore reaches under a store's API, as an attacker with write access to
// the database or the Redis server would. Keys are store keys.
type rawStore interface {
	// ns names the namespace: the table, or the key prefix.
	ns() string
	// keys lists the store keys of every session entry in the namespace.
	keys(ctx context.Context) ([]string, error)
	// snapshot renders everything the namespace holds (rows or keys,
	// with every byte of their values), for before/after comparison.
	snapshot(ctx context.Context) (string, error)
	// setPayload overwrites the sealed payload of key, nothing else.
	setPayload(ctx context.Context, key string, p []byte) error
	// setUserID rewrites the plaintext user id of key and files the key in
	// that user's index, as the store's own index would.
	setUserID(ctx context.Context, key, uid string) error
	// setDeadlines rewrites the idle and absolute deadlines of key (and
	// whatever the backend derives from them: the deadline column, the
	// key's TTL).
	setDeadlines(ctx context.Context, key string, idle, abs time.Time) error
	// save copies everything stored for key; restore writes it back.
	save(ctx context.Context, key string) (any, error)
	restore(ctx context.Context, key string, saved any) error
	// corrupt breaks the stored record outside the payload, so the store
	// itself cannot decode it.
	corrupt(ctx context.Context, key string) error
}

var backends = []backend{
	{name: "sqlite", prepare: prepareSQLite},
	{name: "postgres", prepare: preparePostgres},
	{name: "redis", prepare: prepareRedis},
}

// ---- SQL (SQLite and PostgreSQL) ----

func prepareSQLite(*testing.T) func(testing.TB) space {
	return func(t testing.TB) space { return &sqliteSpace{dir: t.TempDir()} }
}

// sqliteSpace is one SQLite file per case; namespaces are tables in it.
type sqliteSpace struct {
	dir string
	db  *sql.DB
}

func (s *sqliteSpace) open(t testing.TB, ns string) (store.Store, rawStore) {
	t.Helper()
	opts := dbstore.Options{Table: ns, DisableSweeper: true}
	var st *dbstore.Store
	var err error
	if s.db == nil {
		st, err = dbstore.Open(context.Background(), filepath.Join(s.dir, "sessions.db"), opts)
	} else {
		st, err = dbstore.New(context.Background(), s.db, opts)
	}
	if err != nil {
		t.Fatalf("sqlite store %s: %v", ns, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if s.db == nil {
		s.db = st.DB()
	}
	return st, &sqlRaw{db: s.db, table: ns}
}

var tableSeq atomic.Uint64

func preparePostgres(t *testing.T) func(testing.TB) space {
	dsn := testserver.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	db.SetMaxOpenConns(16)
	t.Cleanup(func() { _ = db.Close() })
	return func(testing.TB) space { return &pgSpace{db: db, id: strconv.FormatUint(tableSeq.Add(1), 10)} }
}

// pgSpace is one schema per store-level test; each case's namespaces are
// tables of their own in it.
type pgSpace struct {
	db *sql.DB
	id string
}

func (s *pgSpace) open(t testing.TB, ns string) (store.Store, rawStore) {
	t.Helper()
	table := "c" + s.id + "_" + ns
	st, err := dbstore.New(context.Background(), s.db, dbstore.Options{Table: table, DisableSweeper: true})
	if err != nil {
		t.Fatalf("postgres store %s: %v", table, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, &sqlRaw{db: s.db, table: table, pg: true}
}

// sqlRaw works on a dbstore table with plain SQL. The columns are those of
// dbstore's first migration.
type sqlRaw struct {
	db    *sql.DB
	table string
	pg    bool
}

const sqlCols = "key, version, user_id, user_hash, created, last_activity, idle_deadline, absolute_deadline, deadline, payload"

// q quotes the table into query and numbers placeholders for PostgreSQL.
func (r *sqlRaw) q(query string) string {
	query = strings.ReplaceAll(query, "TABLE", `"`+r.table+`"`)
	if !r.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *sqlRaw) exec1(ctx context.Context, query string, args ...any) error {
	res, err := r.db.ExecContext(ctx, r.q(query), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%s: %d rows affected, want 1", query, n)
	}
	return nil
}

func (r *sqlRaw) ns() string { return r.table }

func (r *sqlRaw) keys(ctx context.Context) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, r.q("SELECT key FROM TABLE ORDER BY key"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// rowValues reads whole rows as driver values.
func (r *sqlRaw) rowValues(ctx context.Context, where string, args ...any) ([][]any, error) {
	rows, err := r.db.QueryContext(ctx, r.q("SELECT "+sqlCols+" FROM TABLE "+where+" ORDER BY key"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, 10)
		ptrs := make([]any, 10)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = slices.Clone(b)
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func (r *sqlRaw) snapshot(ctx context.Context) (string, error) {
	rows, err := r.rowValues(ctx, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte(' ')
			}
			if bs, ok := v.([]byte); ok {
				fmt.Fprintf(&b, "%x", bs)
			} else {
				fmt.Fprint(&b, v)
			}
		}
		b.WriteByte('\n')
	}
	// The table must still be there with its schema: a query of every
	// column above already proved it.
	return b.String(), nil
}

func (r *sqlRaw) setPayload(ctx context.Context, key string, p []byte) error {
	if p == nil {
		p = []byte{}
	}
	return r.exec1(ctx, "UPDATE TABLE SET payload = ? WHERE key = ?", p, key)
}

func (r *sqlRaw) setUserID(ctx context.Context, key, uid string) error {
	h := sha256.Sum256([]byte(uid))
	return r.exec1(ctx, "UPDATE TABLE SET user_id = ?, user_hash = ? WHERE key = ?", []byte(uid), h[:], key)
}

func (r *sqlRaw) setDeadlines(ctx context.Context, key string, idle, abs time.Time) error {
	return r.exec1(ctx, "UPDATE TABLE SET idle_deadline = ?, absolute_deadline = ?, deadline = ? WHERE key = ?",
		idle.UnixMilli(), abs.UnixMilli(), min(idle.UnixMilli(), abs.UnixMilli()), key)
}

func (r *sqlRaw) save(ctx context.Context, key string) (any, error) {
	rows, err := r.rowValues(ctx, "WHERE key = ?", key)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("%d rows under the key", len(rows))
	}
	return rows[0], nil
}

func (r *sqlRaw) restore(ctx context.Context, key string, saved any) error {
	row := saved.([]any)
	if row[0] != key {
		return errors.New("restore under another key")
	}
	// Delete first, so the old row replaces whatever holds the key now.
	if _, err := r.db.ExecContext(ctx, r.q("DELETE FROM TABLE WHERE key = ?"), key); err != nil {
		return err
	}
	return r.exec1(ctx, "INSERT INTO TABLE ("+sqlCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row...)
}

func (r *sqlRaw) corrupt(ctx context.Context, key string) error {
	return r.exec1(ctx, "UPDATE TABLE SET version = -1 WHERE key = ?", key)
}

// ---- Redis ----

func prepareRedis(t *testing.T) func(testing.TB) space {
	rdb := testserver.RedisClient(t)
	return func(t testing.TB) space {
		p := testserver.Prefix(t)
		t.Cleanup(func() { deletePrefix(rdb, p) })
		return &redisSpace{rdb: rdb, prefix: p}
	}
}

// deletePrefix removes a case's keys (its own prefix; never FLUSHDB).
func deletePrefix(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
}

// redisSpace is one prefix per case; namespaces are sub-prefixes of it.
type redisSpace struct {
	rdb    *redis.Client
	prefix string
}

func (s *redisSpace) open(t testing.TB, ns string) (store.Store, rawStore) {
	t.Helper()
	p := s.prefix + ns + ":"
	st, err := redisstore.New(s.rdb, redisstore.Options{Prefix: p})
	if err != nil {
		t.Fatalf("redis store %s: %v", p, err)
	}
	rec := &recordingStore{Store: st}
	return rec, &redisRaw{rdb: s.rdb, prefix: p, st: rec}
}

// redisRaw works on redisstore's keys with plain commands. A session value
// ends with the user id segment (uvarint length, bytes) and the payload
// (see redisstore/codec.go); what precedes them is left as it is.
type redisRaw struct {
	rdb    *redis.Client
	prefix string
	st     store.Store
}

func (r *redisRaw) sessionKey(key string) string { return redisstore.KeyName(r.prefix, key) }

// index adds key to uid's index bucket as redisstore's Put does.
func (r *redisRaw) index(ctx context.Context, uid, key string, abs time.Time) error {
	score := float64((abs.UnixMilli() + 999) / 1000)
	return r.rdb.ZAdd(ctx, redisstore.IndexKeyName(r.prefix, uid), redis.Z{Score: score, Member: redisstore.IndexMember(uid, key)}).Err()
}

func (r *redisRaw) scan(ctx context.Context, pattern string) ([]string, error) {
	var out []string
	it := r.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for it.Next(ctx) {
		out = append(out, it.Val())
	}
	slices.Sort(out)
	return out, it.Err()
}

func (r *redisRaw) ns() string { return r.prefix }

// recordingStore is the Redis store with a record of every store key
// written through it: a key name holds only the start of its store key,
// so the raw side finds the store keys of the names it scans here.
type recordingStore struct {
	*redisstore.Store
	seen sync.Map // Redis key name -> store key
}

func (r *recordingStore) Put(ctx context.Context, e *store.Entry, prev uint64) error {
	r.seen.Store(redisstore.KeyName(r.Prefix(), e.Key), e.Key)
	return r.Store.Put(ctx, e, prev)
}

func (r *recordingStore) CopyIn(ctx context.Context, e *store.Entry) (bool, error) {
	r.seen.Store(redisstore.KeyName(r.Prefix(), e.Key), e.Key)
	return r.Store.CopyIn(ctx, e)
}

func (r *redisRaw) keys(ctx context.Context) ([]string, error) {
	names, err := r.scan(ctx, redisstore.SessionKeyPrefix(r.prefix)+"*")
	var ks []string
	for _, n := range names {
		if k, ok := r.st.(*recordingStore).seen.Load(n); ok && redisstore.IsKeyName(r.prefix, n) {
			ks = append(ks, k.(string))
		}
	}
	slices.Sort(ks)
	return ks, err
}

func (r *redisRaw) snapshot(ctx context.Context) (string, error) {
	ks, err := r.scan(ctx, r.prefix+"*")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, k := range ks {
		typ, err := r.rdb.Type(ctx, k).Result()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s %s ", k, typ)
		switch typ {
		case "string":
			v, err := r.rdb.Get(ctx, k).Bytes()
			if err != nil && !errors.Is(err, redis.Nil) {
				return "", err
			}
			fmt.Fprintf(&b, "%x", v)
		case "zset":
			zs, err := r.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			if err != nil {
				return "", err
			}
			for _, z := range zs {
				fmt.Fprintf(&b, "%v=%v,", z.Member, z.Score)
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// split returns the stored value of key cut into: everything before the
// user id segment, the entry the store decodes, and the raw value.
func (r *redisRaw) split(ctx context.Context, key string) ([]byte, *store.Entry, error) {
	raw, err := r.rdb.Get(ctx, r.sessionKey(key)).Bytes()
	if err != nil {
		return nil, nil, err
	}
	e, err := r.st.Get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	seg := len(binary.AppendUvarint(nil, uint64(len(e.UserID)))) + len(e.UserID)
	n := len(raw) - len(e.Payload) - seg
	if n <= 0 {
		return nil, nil, errors.New("value shorter than its user id and payload")
	}
	return raw[:n], e, nil
}

func (r *redisRaw) setPayload(ctx context.Context, key string, p []byte) error {
	head, e, err := r.split(ctx, key)
	if err != nil {
		return err
	}
	v := binary.AppendUvarint(head, uint64(len(e.UserID)))
	v = append(append(v, e.UserID...), p...)
	return r.rdb.SetArgs(ctx, r.sessionKey(key), v, redis.SetArgs{KeepTTL: true}).Err()
}

func (r *redisRaw) setUserID(ctx context.Context, key, uid string) error {
	head, e, err := r.split(ctx, key)
	if err != nil {
		return err
	}
	v := binary.AppendUvarint(head, uint64(len(uid)))
	v = append(append(v, uid...), e.Payload...)
	if err := r.rdb.SetArgs(ctx, r.sessionKey(key), v, redis.SetArgs{KeepTTL: true}).Err(); err != nil {
		return err
	}
	return r.index(ctx, uid, key, e.AbsoluteDeadline)
}

// setDeadlines rewrites the header's two deadline varints: the value
// starts with a format byte whose low nibble n is the version's length,
// the version, then zigzag varints of created, last activity - created,
// idle deadline - last activity and absolute deadline - created.
func (r *redisRaw) setDeadlines(ctx context.Context, key string, idle, abs time.Time) error {
	raw, err := r.rdb.Get(ctx, r.sessionKey(key)).Bytes()
	if err != nil {
		return err
	}
	p := 1 + int(raw[0]&0x0f)
	var d [4]int64
	for i := range d {
		x, m := binary.Varint(raw[p:])
		if m <= 0 {
			return errors.New("bad varint in the stored header")
		}
		d[i], p = x, p+m
	}
	created, last := d[0], d[0]+d[1]
	v := slices.Clone(raw[:1+int(raw[0]&0x0f)])
	v = binary.AppendVarint(v, created)
	v = binary.AppendVarint(v, d[1])
	v = binary.AppendVarint(v, idle.UnixMilli()-last)
	v = binary.AppendVarint(v, abs.UnixMilli()-created)
	v = append(v, raw[p:]...)
	ttl := time.Until(time.UnixMilli(min(idle.UnixMilli(), abs.UnixMilli())))
	return r.rdb.Set(ctx, r.sessionKey(key), v, ttl).Err()
}

type redisSaved struct {
	value []byte
	ttl   time.Duration
	user  string
	abs   time.Time
}

func (r *redisRaw) save(ctx context.Context, key string) (any, error) {
	v, err := r.rdb.Get(ctx, r.sessionKey(key)).Bytes()
	if err != nil {
		return nil, err
	}
	ttl, err := r.rdb.PTTL(ctx, r.sessionKey(key)).Result()
	if err != nil {
		return nil, err
	}
	e, err := r.st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return redisSaved{value: v, ttl: ttl, user: e.UserID, abs: e.AbsoluteDeadline}, nil
}

func (r *redisRaw) restore(ctx context.Context, key string, saved any) error {
	s := saved.(redisSaved)
	if err := r.rdb.Set(ctx, r.sessionKey(key), s.value, s.ttl).Err(); err != nil {
		return err
	}
	if s.user == "" {
		return nil
	}
	return r.index(ctx, s.user, key, s.abs)
}

func (r *redisRaw) corrupt(ctx context.Context, key string) error {
	return r.rdb.SetArgs(ctx, r.sessionKey(key), "\x00not an entry", redis.SetArgs{KeepTTL: true, Mode: "XX"}).Err()
}
