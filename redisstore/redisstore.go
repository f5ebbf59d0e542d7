package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// Store is a store.Store on a go-redis UniversalClient (a plain client,
// Sentinel or Cluster). It is safe for concurrent use.
type Store struct {
	c       redis.UniversalClient
	opts    Options
	sess    string // session key names: see SessionKeyPrefix
	users   string // index bucket names
	events  string // channel names
	cluster bool   // sharded pub/sub
	owned   bool   // Close closes c
	hubs    hubSet // the shared pub/sub connections
	// lastReload is when an outage last made a Cluster client reload its
	// slot map (unix ns).
	lastReload atomic.Int64
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.GetToucher = (*Store)(nil)
	_ store.UserIndex  = (*Store)(nil)
	_ store.Copier     = (*Store)(nil)
	_ store.Pinger     = (*Store)(nil)
	_ store.Broker     = (*Store)(nil)
)

// New returns a Store on client. The caller keeps ownership of client:
// Close does not close it. Options are validated; for client settings
// suited to session traffic see [UniversalOptions].
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	if opts.Logger != nil {
		SetLogger(opts.Logger)
	}
	_, cluster := client.(*redis.ClusterClient)
	n := namesOf(opts.Prefix)
	return &Store{
		c:       client,
		opts:    opts,
		sess:    n.sess,
		users:   n.users,
		events:  n.events,
		cluster: cluster,
	}, nil
}

// Prefix returns the key prefix the store was built with (after defaults).
func (s *Store) Prefix() string { return s.opts.Prefix }

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the client if the store built it ([NewFromURL]); otherwise
// it does nothing.
func (s *Store) Close() error {
	s.closeHubs()
	if !s.owned {
		return nil
	}
	return s.c.Close()
}

// sessionKey is the Redis key of a store key. Only valid store keys get
// here: no other input ever shapes a key.
func (s *Store) sessionKey(key string) string { return sessionName(s.sess, key) }

// seconds rounds ms up to whole seconds: index scores are seconds, which
// listpack keeps in 5 bytes where ms need 9.
func seconds(ms int64) int64 {
	s := ms / 1000
	if ms%1000 > 0 {
		s++
	}
	return s
}

// ms formats a time in ms for a script argument.
func ms(v int64) string { return strconv.FormatInt(v, 10) }

// checkKey refuses anything that is not a store key.
func checkKey(key string) error {
	if !store.ValidKey(key) {
		return fmt.Errorf("%w: malformed key", store.ErrInvalid)
	}
	return nil
}

// Get returns the live entry under key: one GET. Missing or expired (by
// Options.Now, even before Redis purges it) is store.ErrNotFound; bytes
// that do not decode are store.ErrCorrupt; a malformed key is
// store.ErrInvalid, without a call.
func (s *Store) Get(ctx context.Context, key string) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpGet)
	defer func() { ob.End(err) }()
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	b, err := s.c.Get(ctx, s.sessionKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: get: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("get", err)
	}
	return s.live("get", key, b)
}

// live decodes b and checks it against the clock.
func (s *Store) live(op, key string, b []byte) (*store.Entry, error) {
	e, h, err := decodeOwned(key, b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if s.opts.Now().UnixMilli() >= h.deadline() {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	return e, nil
}

// GetTouch is Get plus, when the entry's last activity is before
// touchBefore, a refresh to (now, min(now+idle, AbsoluteDeadline)). The
// read is one GET, as in Get; the refresh, due at most once per touch
// interval of a session, is the touch script in a second round trip. A
// script on every read would keep it to one round trip always, at about 25
// times the Redis CPU of a GET on each of the many reads that need no
// refresh. The entry's liveness is judged at now.
func (s *Store) GetTouch(ctx context.Context, key string, now time.Time, idle time.Duration, touchBefore time.Time) (_ *store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpGetTouch)
	defer func() { ob.End(err) }()
	const op = "get"
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	nowMs, err1 := millis(now)
	beforeMs, err2 := millis(touchBefore)
	idleMs := idle.Milliseconds()
	if err := errors.Join(err1, err2); err != nil || idleMs <= 0 || idleMs > maxMillis {
		return nil, fmt.Errorf("redisstore: %s: %w: bad now, idle or touchBefore", op, store.ErrInvalid)
	}
	name := s.sessionKey(key)
	b, err := s.c.Get(ctx, name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	e, h, err := decodeOwned(key, b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if nowMs >= h.deadline() {
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	if h.last >= beforeMs {
		return e, nil
	}
	idleAt := min(nowMs+idleMs, h.abs)
	r, err := runScript(ctx, s.c, touchScript, name, ms(nowMs), ms(nowMs), ms(idleAt))
	if err != nil {
		return nil, s.wrap(op, err)
	}
	if err := status(op, r); err != nil {
		return nil, err
	}
	e.LastActivity = time.UnixMilli(nowMs).UTC()
	e.IdleDeadline = time.UnixMilli(idleAt).UTC()
	return e, nil
}

// Touch refreshes the entry's last activity and idle deadline in place
// (payload and version untouched) and moves the key's TTL to the new
// deadline: one script. Missing or expired is store.ErrNotFound.
func (s *Store) Touch(ctx context.Context, key string, lastActivity, idleDeadline time.Time) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpTouch)
	defer func() { ob.End(err) }()
	const op = "touch"
	if err := checkKey(key); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	last, err1 := millis(lastActivity)
	idle, err2 := millis(idleDeadline)
	if err := errors.Join(err1, err2); err != nil || idleDeadline.IsZero() {
		return fmt.Errorf("redisstore: %s: %w: bad time", op, store.ErrInvalid)
	}
	r, err := runScript(ctx, s.c, touchScript, s.sessionKey(key), ms(s.opts.Now().UnixMilli()), ms(last), ms(idle))
	if err != nil {
		return s.wrap(op, err)
	}
	return status(op, r)
}

// status maps a script's status reply to an error.
func status(op string, r any) error {
	n, _ := r.(int64)
	switch n {
	case stOK:
		return nil
	case stNotFound:
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	case stConflict:
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrConflict)
	case stCorrupt:
		return fmt.Errorf("redisstore: %s: %w: stored value does not decode", op, store.ErrCorrupt)
	}
	return fmt.Errorf("redisstore: %s: unexpected script reply %v", op, r)
}

// encode validates e for Put or CopyIn and returns its value and times.
func (s *Store) encode(op string, e *store.Entry, prev uint64) ([]byte, header, error) {
	if err := e.Validate(prev); err != nil {
		return nil, header{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if len(e.Payload) > s.opts.MaxPayload {
		return nil, header{}, fmt.Errorf("redisstore: %s: %w: payload of %d bytes over %d", op, store.ErrTooLarge, len(e.Payload), s.opts.MaxPayload)
	}
	if len(e.UserID) > MaxUserIDLen {
		return nil, header{}, fmt.Errorf("redisstore: %s: %w: user id of %d bytes over %d", op, store.ErrTooLarge, len(e.UserID), MaxUserIDLen)
	}
	h, err := entryHeader(e)
	if err != nil {
		return nil, h, fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrInvalid, err)
	}
	return appendEntry(make([]byte, 0, 32+len(e.UserID)+len(e.Payload)), e, h), h, nil
}

// index queues the user index update for e in p: add the member to the
// user's bucket scored by the absolute deadline in seconds (only ever
// raised), keep the bucket alive until its last member's deadline, and
// prune members whose deadline passed.
//
// The score is the absolute deadline, not the nearest one, because Touch
// moves the idle deadline without knowing the user (one round trip, one
// key): the absolute deadline never moves, so a member is never pruned
// while its entry may live. Dead members left behind (deleted or idle
// sessions, and index writes that ran while their Put lost) are filtered
// by ListUser and DeleteUser, which check every entry, and go when their
// score passes.
func (s *Store) index(ctx context.Context, p redis.Pipeliner, e *store.Entry, h header, now int64) {
	if e.UserID == "" || h.abs <= now {
		return
	}
	bucket, tag := userIndex(s.users, e.UserID)
	ttl := ms(h.abs - now)
	p.ZRemRangeByScore(ctx, bucket, "-inf", "("+ms(now/1000))
	p.ZAddArgs(ctx, bucket, redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: float64(seconds(h.abs)), Member: memberName(tag, e.Key)}}})
	p.Do(ctx, "PEXPIRE", bucket, ttl, "NX")
	p.Do(ctx, "PEXPIRE", bucket, ttl, "GT")
}

// Put stores e if the stored version equals prev (see store.Store): a
// script on the session key. A create (prev 0) also adds the entry to its
// user's index, in the same pipeline (one round trip; on a Cluster two,
// since the index update must not land before the session key). An update leaves the index alone unless the script reports
// that the user id or the absolute deadline changed (never, as the session
// layer writes), which costs a second round trip. The key's TTL is the
// entry's nearest deadline. Times must lie within about 35,000 years of
// 1970 (store.ErrInvalid otherwise).
func (s *Store) Put(ctx context.Context, e *store.Entry, prev uint64) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpPut)
	defer func() { ob.End(err) }()
	const op = "put"
	v, h, err := s.encode(op, e, prev)
	if err != nil {
		return err
	}
	now := s.opts.Now().UnixMilli()
	var extra func(redis.Pipeliner)
	if prev == 0 && e.UserID != "" {
		extra = func(p redis.Pipeliner) { s.index(ctx, p, e, h, now) }
	}
	args := []any{versionBytes(prev), ms(now), v, ms(h.deadline() - now), userSegment(e.UserID), ms(h.abs)}
	r, err := s.scriptPipeline(ctx, putScript, s.sessionKey(e.Key), args, extra)
	if err != nil {
		return s.wrap(op, err)
	}
	if n, _ := r.(int64); n == stReindex {
		if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			s.index(ctx, p, e, h, now)
			return nil
		}); err != nil {
			return s.wrap(op, err)
		}
		return nil
	}
	return status(op, r)
}

// userSegment is the user id as the value layout stores it.
func userSegment(uid string) string { return string(appendUserID(nil, uid)) }

// CopyIn stores e as it is, version included, unless a live entry at a
// version >= e.Version holds the key; an expired e is not written. One
// round trip, like Put.
func (s *Store) CopyIn(ctx context.Context, e *store.Entry) (_ bool, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpCopyIn)
	defer func() { ob.End(err) }()
	const op = "copy"
	if e == nil || e.Version == 0 {
		return false, fmt.Errorf("redisstore: %s: %w: version 0", op, store.ErrInvalid)
	}
	v, h, err := s.encode(op, e, 0)
	if err != nil {
		return false, err
	}
	now := s.opts.Now().UnixMilli()
	if now >= h.deadline() {
		return false, nil
	}
	r, err := s.scriptPipeline(ctx, copyInScript, s.sessionKey(e.Key), []any{versionBytes(e.Version), ms(now), v, ms(h.deadline() - now)},
		func(p redis.Pipeliner) { s.index(ctx, p, e, h, now) })
	if err != nil {
		return false, s.wrap(op, err)
	}
	n, _ := r.(int64)
	return n == 1, nil
}

// Delete removes the entry: one DEL, one round trip. Its membership in its
// user's index is removed lazily (the store cannot know the user without a
// second round trip): ListUser and DeleteUser never report a deleted
// entry, drop the dead member when they meet it, and the member's score
// (the absolute deadline) prunes it at the latest.
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpDelete)
	defer func() { ob.End(err) }()
	if err := checkKey(key); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	if err := s.c.Del(ctx, s.sessionKey(key)).Err(); err != nil {
		return s.wrap("delete", err)
	}
	return nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpPing)
	defer func() { ob.End(err) }()
	if err := s.c.Ping(ctx).Err(); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// members prunes the user's bucket and returns the store keys its members
// list for the user: one round trip.
func (s *Store) members(ctx context.Context, userID string, now int64) (bucket, tag string, keys []string, err error) {
	bucket, tag = userIndex(s.users, userID)
	var zr *redis.StringSliceCmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, bucket, "-inf", "("+ms(now/1000))
		zr = p.ZRange(ctx, bucket, 0, -1)
		return nil
	})
	if err != nil {
		return "", "", nil, err
	}
	for _, m := range zr.Val() {
		if k, ok := memberKey(m, tag); ok {
			keys = append(keys, k)
		}
	}
	return bucket, tag, keys, nil
}

// ListUser returns the user's live entries, oldest Created first (then by
// key). It reads the index, then the entries with one pipeline of GETs
// (MGET would cross slots on a Cluster), and keeps only live entries that
// decode and still belong to the user; members that are gone or belong to
// someone else are removed from the index. Three round trips at most.
//
// An entry created or moved to this user while ListUser runs may be missed
// by this call (and, in a narrow race, lose its index membership until its
// next Put), as with any read that races a write.
func (s *Store) ListUser(ctx context.Context, userID string) (_ []*store.Entry, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpListUser)
	defer func() { ob.End(err) }()
	const op = "list user"
	if userID == "" {
		return []*store.Entry{}, nil
	}
	now := s.opts.Now().UnixMilli()
	bucket, tag, keys, err := s.members(ctx, userID, now)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	out := []*store.Entry{}
	if len(keys) == 0 {
		return out, nil
	}
	gets := make([]*redis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			gets[i] = p.Get(ctx, s.sessionKey(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap(op, err)
	}
	var stale []any
	for i, k := range keys {
		b, err := gets[i].Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, memberName(tag, k))
			continue
		}
		if err != nil {
			return nil, s.wrap(op, err)
		}
		e, h, err := decodeOwned(k, b)
		if err == nil && e.UserID != userID {
			if ob, ot := userIndex(s.users, e.UserID); ob == bucket && ot == tag {
				// The owner's hash shares this user's bucket and tag: the
				// member is the owner's own, not a stale one of this user.
				continue
			}
		}
		if err != nil || e.UserID != userID {
			stale = append(stale, memberName(tag, k))
			continue
		}
		if now >= h.deadline() {
			continue // Redis purges it; its score prunes the member
		}
		out = append(out, e)
	}
	if len(stale) > 0 {
		// Best effort: a failure here leaves dead members the next call
		// drops again.
		_ = s.c.ZRem(ctx, bucket, stale...).Err()
	}
	slices.SortFunc(out, func(a, b *store.Entry) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}

// DeleteUser deletes the user's entries except the one under keep ("" keeps
// none) and returns how many live entries it deleted. Each entry is
// deleted by a script that first checks it still belongs to the user, all
// in one pipeline; the index loses the members it deleted or found dead.
// Three round trips. A malformed keep is store.ErrInvalid.
func (s *Store) DeleteUser(ctx context.Context, userID string, keep string) (_ int, err error) {
	ctx, ob := store.Observe(ctx, s.opts.Observer, "redis", store.OpDeleteUser)
	defer func() { ob.End(err) }()
	const op = "delete user"
	if keep != "" {
		if err := checkKey(keep); err != nil {
			return 0, fmt.Errorf("redisstore: %s: %w", op, err)
		}
	}
	if userID == "" {
		return 0, nil
	}
	now := s.opts.Now().UnixMilli()
	bucket, tag, keys, err := s.members(ctx, userID, now)
	if err != nil {
		return 0, s.wrap(op, err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == keep || !store.ValidKey(k) })
	if len(keys) == 0 {
		return 0, nil
	}
	seg := userSegment(userID)
	calls := make([]scriptCall, len(keys))
	for i, k := range keys {
		calls[i] = scriptCall{script: deleteUserScript, key: s.sessionKey(k), args: []any{seg, ms(now)}}
	}
	if err := runScripts(ctx, s.c, calls, nil, s.cluster); err != nil {
		return 0, s.wrap(op, err)
	}
	n := 0
	var gone []any
	for i, c := range calls {
		r, _ := c.result.(int64)
		switch r {
		case 1:
			n++
			gone = append(gone, memberName(tag, keys[i]))
		case 0:
			gone = append(gone, memberName(tag, keys[i]))
		}
		// -1: the entry is someone else's. Its member may be theirs (their
		// hash can share this user's bucket and tag), so it stays; ListUser
		// tells the two cases apart.
	}
	if len(gone) > 0 {
		_ = s.c.ZRem(ctx, bucket, gone...).Err() // best effort, as in ListUser
	}
	return n, nil
}
