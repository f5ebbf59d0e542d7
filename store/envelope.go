package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// EnvKeys is the environment variable that holds the encryption key ring
// (see [ParseKeyring]).
const EnvKeys = "SESSION_ENCRYPTION_KEYS"

// KeySize is the size of a ring key in bytes (AES-256).
const KeySize = 32

// Envelope layout (see the package documentation for the reasoning).
const (
	envVersion  = 1
	keyIDSize   = 4 // of Key.ID, for logs
	keyTagSize  = 1 // of the key tag an envelope carries
	nonceSize   = 12
	tagSize     = 16
	envHeader   = 1 + keyTagSize + nonceSize
	envOverhead = envHeader + tagSize

	keyIDLabel = "sessions/key-id"
	hkdfInfo   = "sessions/v1"
)

// Envelope errors.
var (
	// ErrOpen is the one error of every failed [Keyring.Open]: wrong key,
	// unknown key tag or format version, a moved or altered envelope, a
	// truncated one. It is always this exact value, never wrapped, so no
	// detail of why leaks to a caller that might echo it.
	ErrOpen = errors.New("store: cannot open envelope")
	// ErrKeyring: a key ring cannot be built (no keys, a key of the wrong
	// size or encoding, a duplicate key). Errors wrap it with the reason,
	// never with key material.
	ErrKeyring = errors.New("store: invalid encryption keys")
)

// Key is one 32-byte key of a [Keyring]. It redacts itself in every log
// and print: slog, fmt's %v, %+v, %#v and %s, and JSON.
type Key struct {
	secret [KeySize]byte
	id     [keyIDSize]byte
	// expand pools HMAC-SHA256 states keyed with the HKDF pseudorandom key
	// of secret: HKDF-Extract runs once per key, not once per envelope.
	expand *sync.Pool
	// aeads keeps the derived per-entry AEADs of recently used store keys:
	// a session read on every request derives its key once, not on each.
	aeads *aeadCache
}

// aeadCacheSize bounds the per-entry AEADs a key keeps (about 1 KiB each).
const aeadCacheSize = 4096

// aeadCache is a bounded map of derived AEADs; when full, an arbitrary
// entry (Go's map order) makes room. cipher.AEAD from crypto/cipher's GCM
// is safe for concurrent use.
type aeadCache struct {
	mu sync.Mutex
	m  map[string]cipher.AEAD
}

func (c *aeadCache) get(storeKey string) cipher.AEAD {
	c.mu.Lock()
	g := c.m[storeKey]
	c.mu.Unlock()
	return g
}

func (c *aeadCache) put(storeKey string, g cipher.AEAD) {
	c.mu.Lock()
	if len(c.m) >= aeadCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[storeKey] = g
	c.mu.Unlock()
}

// newKey derives the key id: the first 4 bytes of
// HMAC-SHA256(key, "sessions/key-id"). The id names the key in envelopes
// and logs without revealing it.
func newKey(b []byte) Key {
	var k Key
	copy(k.secret[:], b)
	m := hmac.New(sha256.New, k.secret[:])
	m.Write([]byte(keyIDLabel))
	copy(k.id[:], m.Sum(nil))
	// HKDF-Extract with no salt (RFC 5869 §2.2: a zero-filled salt).
	var zero [sha256.Size]byte
	ext := hmac.New(sha256.New, zero[:])
	ext.Write(k.secret[:])
	prk := ext.Sum(nil)
	k.expand = &sync.Pool{New: func() any { return hmac.New(sha256.New, prk) }}
	k.aeads = &aeadCache{m: map[string]cipher.AEAD{}}
	return k
}

// ID returns the key's public id in hex (8 characters), as carried in
// envelopes. It reveals nothing about the key.
func (k Key) ID() string { return hex.EncodeToString(k.id[:]) }

// String redacts the key.
func (k Key) String() string { return "[REDACTED]" }

// GoString redacts the key.
func (k Key) GoString() string { return "[REDACTED]" }

// Format redacts the key for every fmt verb.
func (k Key) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, "[REDACTED]") }

// LogValue redacts the key.
func (k Key) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// MarshalText redacts the key, so encoders that honour it (JSON among
// them) never write key material.
func (k Key) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// Keyring seals and opens envelopes: the AEAD that protects session values
// at rest. The first key seals; every key opens, so keys rotate without
// logging anyone out (see [Keyring.Open]). A Keyring is immutable and safe
// for concurrent use. It redacts itself in logs and prints.
type Keyring struct {
	keys []Key
}

// NewKeyring builds a ring from 32-byte keys: the first is the active key
// that seals, all of them open. Duplicate keys, and distinct keys whose
// 4-byte ids collide, are errors wrapping [ErrKeyring]. The bytes are
// copied.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKeyring)
	}
	r := &Keyring{keys: make([]Key, 0, len(keys))}
	for i, b := range keys {
		if len(b) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d", ErrKeyring, i+1, len(b), KeySize)
		}
		k := newKey(b)
		for j, o := range r.keys {
			if subtle.ConstantTimeCompare(o.secret[:], k.secret[:]) == 1 {
				return nil, fmt.Errorf("%w: key %d repeats key %d", ErrKeyring, i+1, j+1)
			}
			if o.id == k.id {
				return nil, fmt.Errorf("%w: keys %d and %d have the same key id; generate another key", ErrKeyring, j+1, i+1)
			}
		}
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// ParseKeyring parses the text form of a ring, as found in
// SESSION_ENCRYPTION_KEYS ([EnvKeys]): comma-separated keys, the first
// active, each 32 bytes in standard or URL-safe base64, padded or not.
// Whitespace around each item is ignored. A malformed item is an error
// wrapping [ErrKeyring] that names the variable and the item's position
// (1-based), never its text.
func ParseKeyring(s string) (*Keyring, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: %s is empty; set it to one or more keys (print one with: go run github.com/vedfolnir/sessions/cmd/sessionkeys new)", ErrKeyring, EnvKeys)
	}
	items := strings.Split(s, ",")
	keys := make([][]byte, 0, len(items))
	for i, item := range items {
		b, ok := decodeKeyText(strings.TrimSpace(item))
		if !ok {
			return nil, fmt.Errorf("%w: %s: item %d is not a %d-byte key in base64", ErrKeyring, EnvKeys, i+1, KeySize)
		}
		keys = append(keys, b)
	}
	r, err := NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKeys, err)
	}
	return r, nil
}

// decodeKeyText decodes standard or URL-safe base64, padded or not, of
// exactly KeySize bytes.
func decodeKeyText(s string) ([]byte, bool) {
	// Unpadded (43 characters) or with exactly its one '=' of padding.
	if len(s) == base64.StdEncoding.EncodedLen(KeySize) && strings.HasSuffix(s, "=") {
		s = s[:len(s)-1]
	}
	if len(s) != base64.RawStdEncoding.EncodedLen(KeySize) {
		return nil, false
	}
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != KeySize {
		return nil, false
	}
	return b, true
}

// GenerateKey returns a fresh random key from crypto/rand in the text form
// [ParseKeyring] takes (base64url without padding, 43 characters).
func GenerateKey() string {
	var b [KeySize]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Len returns the number of keys in the ring.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// ActiveID returns the public id of the active (sealing) key; see [Key.ID].
func (k *Keyring) ActiveID() string {
	if k.Len() == 0 {
		return ""
	}
	return k.keys[0].ID()
}

// String describes the ring without key material.
func (k *Keyring) String() string {
	if k.Len() == 0 {
		return "Keyring[REDACTED]"
	}
	return fmt.Sprintf("Keyring[%d keys, active %s, REDACTED]", len(k.keys), k.ActiveID())
}

// GoString describes the ring without key material.
func (k *Keyring) GoString() string { return k.String() }

// Format describes the ring without key material for every fmt verb.
func (k *Keyring) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue describes the ring without key material: the number of keys and
// the active key's public id.
func (k *Keyring) LogValue() slog.Value {
	if k.Len() == 0 {
		return slog.StringValue("[REDACTED]")
	}
	return slog.GroupValue(slog.Int("keys", len(k.keys)), slog.String("active", k.ActiveID()))
}

// aead returns AES-256-GCM under the entry key derived from key and
// storeKey: HKDF-SHA256(secret = ring key, info = "sessions/v1" + storeKey).
//
// The entry key is one SHA-256 block, so HKDF-Expand is a single HMAC
// under the key's pseudorandom key: T(1) = HMAC(PRK, info ‖ 0x01). That is
// exactly crypto/hkdf's output (a test holds the two equal) with Extract
// done once per ring key and the HMAC state pooled.
func aead(key *Key, storeKey string) (cipher.AEAD, error) {
	if key.aeads != nil {
		if g := key.aeads.get(storeKey); g != nil {
			return g, nil
		}
	}
	m := key.expand.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(hkdfInfo))
	m.Write([]byte(storeKey))
	m.Write([]byte{1})
	var ek [sha256.Size]byte
	m.Sum(ek[:0])
	key.expand.Put(m)
	block, err := aes.NewCipher(ek[:])
	clear(ek[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err == nil && key.aeads != nil {
		key.aeads.put(storeKey, g)
	}
	return g, err
}

// additionalData binds an envelope to its header, its store key, its
// record type and the caller's extra bytes: version ‖ key tag ‖ record type
// ‖ store key, then, when extra is not nil, extra ‖ len(extra) as 2 bytes
// big-endian (so the split between store key and extra is unambiguous).
func additionalData(buf []byte, header []byte, recordType byte, storeKey string, extra []byte) []byte {
	buf = append(buf, header[:1+keyTagSize]...)
	buf = append(buf, recordType)
	buf = append(buf, storeKey...)
	if extra != nil {
		buf = append(buf, extra...)
		buf = append(buf, byte(len(extra)>>8), byte(len(extra)))
	}
	return buf
}

// Seal encrypts plaintext for the entry under storeKey with the active key.
// recordType tells kinds of record apart (e.g. 's' for session values) and
// is bound into the associated data with the store key, the key tag and the
// format version: an envelope opens only under the same store key and
// record type it was sealed for.
//
// The result is version (1 byte) ‖ key tag (1) ‖ nonce (12) ‖ ciphertext ‖
// tag (16): 30 bytes more than plaintext.
func (k *Keyring) Seal(storeKey string, recordType byte, plaintext []byte) ([]byte, error) {
	return k.SealWith(storeKey, recordType, nil, plaintext)
}

// SealWith is Seal with extra bytes bound into the associated data: the
// envelope opens only with [Keyring.OpenWith] given the same extra. The
// extra bytes are not stored; the caller keeps them (for instance, an
// entry's plaintext fields, which then cannot be edited without the
// envelope failing to open). At most 65,535 bytes. Use a record type either
// always with extra bytes or never.
func (k *Keyring) SealWith(storeKey string, recordType byte, extra, plaintext []byte) ([]byte, error) {
	if len(extra) > 0xFFFF {
		return nil, fmt.Errorf("store: seal: %d extra bytes, at most 65535", len(extra))
	}
	if k.Len() == 0 {
		return nil, fmt.Errorf("%w: empty keyring", ErrKeyring)
	}
	key := &k.keys[0]
	g, err := aead(key, storeKey)
	if err != nil {
		return nil, fmt.Errorf("store: seal: %w", err)
	}
	out := make([]byte, envHeader, envOverhead+len(plaintext))
	out[0] = envVersion
	out[1] = key.id[0]
	_, _ = rand.Read(out[1+keyTagSize : envHeader]) // never fails (Go ≥ 1.24)
	var adBuf [96]byte
	ad := additionalData(adBuf[:0], out, recordType, storeKey, extra)
	return g.Seal(out, out[1+keyTagSize:envHeader], plaintext, ad), nil
}

// Open authenticates and decrypts an envelope made by [Keyring.Seal] for
// the same store key and record type. stale reports that it was sealed
// under a key other than the active one: the caller should seal it again,
// so old keys can leave the ring once no live session needs them.
//
// Every failure is exactly [ErrOpen]: an unknown key tag or format version
// (there is no fallback to any other format), a wrong store key or record
// type, any altered or truncated byte.
func (k *Keyring) Open(storeKey string, recordType byte, sealed []byte) (plaintext []byte, stale bool, err error) {
	return k.OpenWith(storeKey, recordType, nil, sealed)
}

// OpenWith opens an envelope made by [Keyring.SealWith] with the same extra
// bytes; see Open.
func (k *Keyring) OpenWith(storeKey string, recordType byte, extra, sealed []byte) (plaintext []byte, stale bool, err error) {
	if k == nil || len(sealed) < envOverhead || sealed[0] != envVersion || len(extra) > 0xFFFF {
		return nil, false, ErrOpen
	}
	var adBuf [96]byte
	ad := additionalData(adBuf[:0], sealed, recordType, storeKey, extra)
	// The one-byte tag only narrows the search: keys whose tags collide
	// (one pair in 256) are each tried, and the AEAD tells which sealed it.
	for i := range k.keys {
		if k.keys[i].id[0] != sealed[1] {
			continue
		}
		g, err := aead(&k.keys[i], storeKey)
		if err != nil {
			continue
		}
		if pt, err := g.Open(nil, sealed[1+keyTagSize:envHeader], sealed[envHeader:], ad); err == nil {
			return pt, i != 0, nil
		}
	}
	return nil, false, ErrOpen
}
