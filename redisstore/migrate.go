package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// MigrateResult counts what [Store.MigrateKeys] did.
type MigrateResult struct {
	// Moved is the number of sessions copied to their new key names (or
	// found already there at an equal or newer version) and removed from
	// the old ones.
	Moved int
	// Expired is the number of old keys removed because their session had
	// ended.
	Expired int
	// Skipped is the number of old-shaped keys left alone: their values do
	// not decode as sessions, are over the store's limits (MaxPayload), or
	// kept changing while the migration ran (run it again once the writers
	// of old names are gone).
	Skipped int
	// Buckets is the number of old index buckets removed; their sessions'
	// users are indexed afresh under the new names.
	Buckets int
}

// migrateDelScript deletes KEYS[1] only if it still holds ARGV[1]: an old
// key a writer changed after it was copied is kept for the next pass.
var migrateDelScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// MigrateKeys moves the sessions of this store's prefix from the binary
// key names of earlier versions ({prefix}s: and 32 raw bytes, index
// buckets {prefix}u:{4 hex digits}) to the printable names the store uses
// now (see [SessionKeyPrefix] and [IndexKeyName]). Sessions under the old
// names are invisible to the store until moved, so run it once right after
// deploying, with traffic flowing, and again if Skipped is not zero.
//
// It walks only the old names of its own prefix with SCAN (on every master
// of a Cluster), so it is a background load, not a stall. Each session is
// written with the same compare-on-version rule as [Store.CopyIn] (a copy
// already at the new name at an equal or newer version wins), indexed for
// its user, and its old key is deleted only if it still holds the value
// that was copied; every script touches one key. Running it again finds
// nothing to do; old-shaped keys whose values are not sessions are left
// alone and counted in Skipped.
func (s *Store) MigrateKeys(ctx context.Context) (MigrateResult, error) {
	var res MigrateResult
	oldSess := s.opts.Prefix + "s:"
	err := s.scanAll(ctx, globEscape(oldSess)+"*", func(names []string) error {
		var old []string
		for _, n := range names {
			if len(n) == len(oldSess)+rawKeyLen && strings.HasPrefix(n, oldSess) {
				old = append(old, n)
			}
		}
		for _, name := range old {
			if err := s.migrateOne(ctx, name, oldSess, &res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, migrateErr(err)
	}
	oldUsers := s.opts.Prefix + "u:"
	err = s.scanAll(ctx, globEscape(oldUsers)+"*", func(names []string) error {
		for _, n := range names {
			h, ok := strings.CutPrefix(n, oldUsers)
			if !ok || len(h) != 4 || strings.Trim(h, "0123456789abcdef") != "" {
				continue
			}
			if err := s.c.Del(ctx, n).Err(); err != nil {
				return err
			}
			res.Buckets++
		}
		return nil
	})
	if err != nil {
		return res, migrateErr(err)
	}
	return res, nil
}

// migrateErr wraps an error of MigrateKeys; errors of its CopyIn calls
// are already wrapped.
func migrateErr(err error) error {
	if strings.HasPrefix(err.Error(), "redisstore: ") {
		return fmt.Errorf("redisstore: migrate keys: %w", err)
	}
	return wrap("migrate keys", err)
}

// migrateOne moves one old key, retrying a few times when a writer changes
// it meanwhile.
func (s *Store) migrateOne(ctx context.Context, name, oldSess string, res *MigrateResult) error {
	key := base64.RawURLEncoding.EncodeToString([]byte(name[len(oldSess):]))
	for range 3 {
		v, err := s.c.Get(ctx, name).Result()
		if errors.Is(err, redis.Nil) {
			return nil // gone meanwhile: expired or deleted
		}
		if err != nil {
			return err
		}
		e, _, err := decodeEntry(key, []byte(v))
		if err != nil {
			res.Skipped++
			return nil
		}
		// An equal or newer copy already at the new name also counts as
		// moved.
		if _, err := s.CopyIn(ctx, e); errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrTooLarge) {
			res.Skipped++ // over this store's limits: left for a store configured to take it
			return nil
		} else if err != nil {
			return err
		}
		r, err := migrateDelScript.Run(ctx, s.c, []string{name}, v).Int()
		if err != nil {
			return err
		}
		if r == 1 {
			if s.opts.Now().UnixMilli() >= min(e.IdleDeadline.UnixMilli(), e.AbsoluteDeadline.UnixMilli()) {
				res.Expired++
			} else {
				res.Moved++
			}
			return nil
		}
	}
	res.Skipped++
	return nil
}

// scanAll runs SCAN MATCH pattern over the whole keyspace (every master of
// a Cluster, at once) and hands each page of names to fn, one call at a
// time.
func (s *Store) scanAll(ctx context.Context, pattern string, fn func([]string) error) error {
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			names, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			if err := fn(names); err != nil {
				return err
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		// ForEachMaster runs the masters at once; fn sees one page at a time.
		var mu sync.Mutex
		inner := fn
		fn = func(names []string) error {
			mu.Lock()
			defer mu.Unlock()
			return inner(names)
		}
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, s.c)
}

// globEscape escapes the glob characters of a Redis MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
