package ginsession

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vedfolnir/sessions/store"
)

// FingerprintAction is what a fingerprint mismatch does.
type FingerprintAction int

const (
	// FingerprintEnd ends the session (the default when enabled): the
	// request goes on with a fresh, empty session.
	FingerprintEnd FingerprintAction = iota
	// FingerprintFlag keeps the session but reports the mismatch through a
	// "rejected" event and Session.FingerprintMismatch, for step-up checks.
	FingerprintFlag
)

// FingerprintOptions binds a session to the client that created it. It is
// defence in depth against a stolen cookie used from another browser, not
// authentication: user agents are easy to copy.
type FingerprintOptions struct {
	// Enabled turns binding on. Default off.
	Enabled bool
	// Action on mismatch. Default FingerprintEnd.
	Action FingerprintAction
	// IPv4PrefixBits, when above 0, binds the session to the client's IPv4
	// network of that size (24 is a common choice). Client IPs come from
	// gin's Context.ClientIP, so they follow the engine's trusted-proxy
	// setting: call engine.SetTrustedProxies with your proxies (or nil), or a
	// spoofed X-Forwarded-For could pick the IP.
	IPv4PrefixBits int
	// IPv6PrefixBits, likewise for IPv6 (56 or 64 are common).
	IPv6PrefixBits int
}

// fingerprint is a keyed hash of the client's user agent and, if
// configured, its network. The key is the session token, so the stored
// value (itself inside the sealed payload) cannot even be checked against a
// guess without the cookie.
func (s *Session) fingerprint(tok store.Token) []byte {
	fo := s.m.cfg.Fingerprint
	mac := hmac.New(sha256.New, []byte("sessions/fingerprint\x00"+tok.String()))
	mac.Write([]byte(s.c.Request.UserAgent()))
	mac.Write([]byte{0})
	if ip, err := netip.ParseAddr(s.c.ClientIP()); err == nil {
		ip = ip.Unmap()
		bits := fo.IPv6PrefixBits
		if ip.Is4() {
			bits = fo.IPv4PrefixBits
		}
		if bits > 0 {
			if p, err := ip.Prefix(bits); err == nil {
				mac.Write([]byte(p.String()))
			}
		}
	}
	return mac.Sum(nil)[:16]
}

func (s *Session) bindFingerprint(tok store.Token) {
	if !s.m.cfg.Fingerprint.Enabled {
		return
	}
	if raw, err := store.EncodeValue(s.fingerprint(tok), s.m.cfg.Limits); err == nil {
		s.put(keyFinger, raw)
	}
}

// checkFingerprint reports whether the loaded session passes; a session
// stored before binding was enabled is bound now.
func (s *Session) checkFingerprint(tok store.Token) bool {
	if !s.m.cfg.Fingerprint.Enabled {
		return true
	}
	raw := s.values[keyFinger]
	if raw == nil {
		s.bindFingerprint(tok)
		return true
	}
	var want []byte
	if store.DecodeValue(raw, &want, s.m.cfg.Limits) != nil {
		return false
	}
	return hmac.Equal(want, s.fingerprint(tok))
}

// FingerprintMismatch reports whether this request's client did not match
// the session's fingerprint (only with FingerprintFlag; FingerprintEnd ends
// such sessions instead).
func (s *Session) FingerprintMismatch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flagged
}

func (s *Session) markRotated(now time.Time) {
	if s.m.cfg.RotateEvery <= 0 {
		return
	}
	if raw, err := store.EncodeValue(store.Millis(now).UnixMilli(), s.m.cfg.Limits); err == nil {
		s.put(keyRotated, raw)
	}
}

// rotatedAt is when the session's token was last rotated (its creation if
// never).
func (s *Session) rotatedAt() time.Time {
	var ms int64
	if raw := s.values[keyRotated]; raw != nil && store.DecodeValue(raw, &ms, s.m.cfg.Limits) == nil {
		return time.UnixMilli(ms)
	}
	return s.entry.Created
}

// RequireRecentLogin returns middleware that lets a request through only if
// its user logged in within maxAge (re-authentication before sensitive
// actions, ASVS 7.5). Otherwise 401 {"error": "recent login required"}.
func RequireRecentLogin(maxAge time.Duration) gin.HandlerFunc {
	return RequireRecentLoginNamed("", maxAge)
}
