package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unsafe"

	"github.com/vedfolnir/sessions/store"
)

// Key names. Every key name the store uses is printable ASCII without
// spaces, quotes, backslashes, braces or glob characters, so `redis-cli
// --scan | xargs ...` and Redis GUIs handle them, and no name carries a
// hash tag.
//
// The prefix rule: a prefix that ends in "session:" (the seed's
// REDIS_SESSION_PREFIX=vedfolnir:session:) is the session keys' own
// prefix, and the index and event names go beside them under the part
// before it; any other prefix (the default "vedfolnir:") is the namespace,
// and "session:" is appended for the session keys. Both of those prefixes
// give:
//
//	vedfolnir:session:{id}         a session
//	vedfolnir:users:{4 hex digits} a bucket of the per-user index
//	vedfolnir:events:{topic}       a pub/sub channel
const (
	sessionPart = "session:"
	usersPart   = "users:"
	eventsPart  = "events:"
)

// names holds the name bases a prefix gives.
type names struct {
	sess, users, events string
}

// namesOf applies the prefix rule.
func namesOf(prefix string) names {
	base := strings.TrimSuffix(prefix, sessionPart)
	return names{sess: base + sessionPart, users: base + usersPart, events: base + eventsPart}
}

// SessionKeyPrefix returns what starts every session key of a store with
// the given prefix ("" for [DefaultPrefix]): the prefix itself when it ends
// in "session:", otherwise the prefix followed by "session:". Both
// "vedfolnir:" and "vedfolnir:session:" give "vedfolnir:session:"; the SCAN
// pattern of a store's sessions is this followed by "*".
func SessionKeyPrefix(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return namesOf(prefix).sess
}

// IDLen is the length of the id that ends a session key name: the first
// 26 characters (156 bits) of the 43-character store key, itself a SHA-256
// of the session token in base64url. The id keeps the seed session's key
// name, vedfolnir:session:{id}, at 44 bytes, in Redis's 48-byte allocation
// class: the whole store key would take the 80-byte class, 32 bytes more
// per session. 156 bits leave no practical collision (two sessions would
// need to agree on 156 bits of SHA-256; finding a token whose key shares a
// given session's id is a 2^156 search), and a name cannot be turned back
// into its store key, so what a Redis dump shows opens no session through
// the store. The index members hold each user's whole store keys.
const IDLen = 26

// sessionName appends the id of store key key to base, in one allocation.
// Only valid store keys get here.
func sessionName(base, key string) string {
	if len(key) < IDLen {
		return base + "!" // unreachable for a store key; never an id
	}
	return base + key[:IDLen]
}

// KeyName returns the Redis key name that holds the session under the store
// key key, for a store with the given prefix ("" for [DefaultPrefix]):
// [SessionKeyPrefix], then the first [IDLen] characters of the key. "" when
// key is not a store key.
func KeyName(prefix, key string) string {
	if !store.ValidKey(key) {
		return ""
	}
	return sessionName(SessionKeyPrefix(prefix), key)
}

// IsKeyName reports whether name is shaped like a session key name of a
// store with the given prefix ("" for [DefaultPrefix]): [SessionKeyPrefix],
// then [IDLen] base64url characters.
func IsKeyName(prefix, name string) bool {
	id, ok := strings.CutPrefix(name, SessionKeyPrefix(prefix))
	if !ok || len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IndexBuckets is the number of sorted sets the per-user index is spread
// over: a user's sessions are members of one bucket, chosen by a hash of the
// user id. Up to 128 members (zset-max-listpack-entries) a bucket stays in
// Redis's compact listpack encoding, about 42 bytes per member: 8,192
// buckets keep that up to roughly 700,000 live sessions (about 50 bytes per
// session at 250,000, bucket overhead included). Beyond, buckets
// convert to skiplists (about 90 bytes more per member; raising
// zset-max-listpack-entries to 512 postpones that fourfold) and listing a
// user's sessions reads a larger bucket; nothing else changes.
const IndexBuckets = 1 << 13

// indexTagLen is the length of the user tag that starts an index member.
const indexTagLen = 2

// userIndex returns the index bucket name and the member tag of a user.
// No byte of the user id reaches either.
func userIndex(base, userID string) (bucket, tag string) {
	sum := sha256.Sum256([]byte(userID))
	b := binary.BigEndian.Uint16(sum[:2]) & (IndexBuckets - 1)
	const hex = "0123456789abcdef"
	name := make([]byte, 0, len(base)+4)
	name = append(name, base...)
	name = append(name, hex[b>>12], hex[b>>8&15], hex[b>>4&15], hex[b&15])
	return string(name), string(sum[2 : 2+indexTagLen])
}

// IndexKeyName returns the Redis key name of the index bucket that holds
// userID's sessions, for a store with the given prefix ("" for
// [DefaultPrefix]): the namespace (the prefix without a final "session:"),
// "users:", then 4 hex digits.
func IndexKeyName(prefix, userID string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	b, _ := userIndex(namesOf(prefix).users, userID)
	return b
}

// IndexMember returns the member that lists the session under store key key
// in userID's index bucket: the user's 2-byte tag, then the key's 32 raw
// bytes. Members are binary (34 bytes, where the printable key would take
// 45) because the index is about a seventh of the store's memory; key names
// are all printable. "" when key is not a store key.
func IndexMember(userID, key string) string {
	if !store.ValidKey(key) {
		return ""
	}
	_, tag := userIndex("", userID)
	return memberName(tag, key)
}

// rawKeyLen is the length of a store key's raw bytes.
const rawKeyLen = 32

// memberName appends key's raw bytes to tag.
func memberName(tag, key string) string {
	b := make([]byte, len(tag), len(tag)+rawKeyLen)
	copy(b, tag)
	b, err := base64.RawURLEncoding.AppendDecode(b, []byte(key))
	if err != nil || len(b) != len(tag)+rawKeyLen {
		return tag + "!" + key // unreachable for a valid store key
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// memberKey returns the store key whose raw bytes follow tag in m.
func memberKey(m, tag string) (string, bool) {
	raw, ok := strings.CutPrefix(m, tag)
	if !ok || len(raw) != rawKeyLen {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw)), true
}
