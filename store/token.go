package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// TokenLen is the length of a token's text: 32 random bytes in base64url
// without padding.
const TokenLen = 43

// KeyLen is the length of a store key: a SHA-256 in base64url without
// padding.
const KeyLen = 43

// ErrMalformedToken: the text is not exactly a token this package issues.
var ErrMalformedToken = errors.New("store: malformed token")

var b64 = base64.RawURLEncoding

// Token is a session token: the secret in the cookie. It redacts itself in
// logs; use [Token.String] only to set the cookie.
type Token string

// NewToken returns 256 bits from crypto/rand as a Token.
func NewToken() Token {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return Token(b64.EncodeToString(b[:]))
}

// ParseToken accepts exactly what NewToken returns: 43 characters of the
// base64url alphabet that decode to 32 bytes and re-encode to the same text
// (so no two spellings name one token). Anything else is ErrMalformedToken,
// decided before any store call.
func ParseToken(s string) (Token, error) {
	if !canonical43(s) {
		return "", ErrMalformedToken
	}
	return Token(s), nil
}

// canonical43 reports whether s is the canonical base64url text of 32 bytes.
func canonical43(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// 43 chars carry 258 bits; the last character's low 2 bits must be zero
	// for the text to be canonical.
	var buf [32]byte
	n, err := b64.Strict().Decode(buf[:], []byte(s))
	return err == nil && n == 32
}

// String returns the token text, for the cookie.
func (t Token) String() string { return string(t) }

// Format redacts the token in fmt output (%v, %s, %q, ...): only an
// explicit String call yields the secret.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[REDACTED]") }

// LogValue redacts the token.
func (t Token) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Key returns the store key of the token.
func (t Token) Key() string { return KeyFromToken(string(t)) }

// KeyFromToken returns the store key for a token: SHA-256 of the token text
// in base64url. A leaked store dump holds keys, and a key is no cookie.
func KeyFromToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	// Encoded on the stack: one allocation (the string) per read, not two.
	var buf [KeyLen]byte
	b64.Encode(buf[:], sum[:])
	return string(buf[:])
}

// ValidKey reports whether s has the form of a store key. Stores refuse
// anything else, so no caller-controlled byte can shape a backend key.
func ValidKey(s string) bool { return canonical43(s) }

// Handle returns a stable, non-secret name for the session under a store
// key, for logs, events and session lists: 128 bits of SHA-256 over the key,
// from which neither the key nor the token can be recovered.
func Handle(key string) string {
	sum := sha256.Sum256([]byte("sessions/handle\x00" + key))
	return b64.EncodeToString(sum[:16])
}
