package ginsession

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"time"
)

// A visitor's CSRF token: the login form needs one, and storing a session
// for every visitor who loads it would let anyone fill the store. So a
// visitor without a stored user gets a signed double-submit token instead:
//
//	cookie  <session cookie name>-csrf = base64url(16 random bytes)   HttpOnly, short-lived
//	token   base64url(issued (4 bytes, Unix seconds) ‖ HMAC-SHA256(k, "csrf" ‖ 0 ‖ cookie ‖ issued)[:16])
//
// k is derived from the key ring (store.Keyring.SubKeys), so there is no
// secret to configure. A cross-site page can neither read the cookie nor
// forge the MAC; a token is worthless without the cookie it was made for,
// and it expires with VisitorCSRFLifetime. RequireCSRF's cross-origin check
// (Fetch metadata, Origin) runs first, as for every other request.

// visitorCSRFPurpose names the key ring's sub-key of visitor tokens.
const visitorCSRFPurpose = "csrf-visitor"

const (
	visitorNonceBytes = 16
	visitorMACBytes   = 16
	visitorTokenBytes = 4 + visitorMACBytes
)

// csrfCookieName is the visitor CSRF cookie's name.
func (m *Manager) csrfCookieName() string { return m.cfg.Cookie.Name + "-csrf" }

// visitorMAC is the MAC of a token issued at issued for nonce, under key.
func visitorMAC(key, nonce []byte, issued uint32) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("csrf\x00"))
	mac.Write(nonce)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], issued)
	mac.Write(b[:])
	return mac.Sum(nil)[:visitorMACBytes]
}

// readCSRFCookie returns the request's visitor CSRF nonce: exactly one
// cookie of that name holding 16 bytes in base64url, or nil.
func (m *Manager) readCSRFCookie(r *http.Request) []byte {
	name := m.csrfCookieName()
	var found string
	n := 0
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				n++
				found = v
			}
		}
	}
	if n != 1 {
		return nil
	}
	b, ok := decodeExact(found, visitorNonceBytes)
	if !ok {
		return nil
	}
	return b
}

// decodeExact decodes s, unpadded base64url, when it is the text of exactly
// n bytes. The decoder skips '\r' and '\n' even in strict mode, so a text
// of the right length may hold fewer bytes than it seems to: those are
// refused here, not by each caller.
func decodeExact(s string, n int) ([]byte, bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) || strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != n {
		return nil, false
	}
	return b, true
}

// visitorToken returns a visitor CSRF token, bound to the request's CSRF
// cookie, and (re)sends that cookie: a new one when the request has none,
// else the same value with a renewed lifetime, so every tab's token stays
// valid. It stores nothing.
func (s *Session) visitorToken() string {
	m := s.m
	nonce := m.readCSRFCookie(s.c.Request)
	if nonce == nil {
		nonce = randomBytes(visitorNonceBytes)
	}
	ck := m.cookie(base64.RawURLEncoding.EncodeToString(nonce), int(m.cfg.VisitorCSRFLifetime/time.Second))
	ck.Name = m.csrfCookieName()
	ck.HttpOnly = true
	http.SetCookie(s.c.Writer, ck)
	issued := uint32(m.cfg.Now().Unix())
	tok := make([]byte, 4, visitorTokenBytes)
	binary.BigEndian.PutUint32(tok, issued)
	tok = append(tok, visitorMAC(m.csrfKeys[0], nonce, issued)...)
	return base64.RawURLEncoding.EncodeToString(tok)
}

// checkVisitorCSRF reports whether presented is a live visitor token for
// the request's CSRF cookie, under any key of the ring.
func (m *Manager) checkVisitorCSRF(r *http.Request, presented string) bool {
	tok, ok := decodeExact(presented, visitorTokenBytes)
	if !ok {
		return false
	}
	nonce := m.readCSRFCookie(r)
	if nonce == nil {
		return false
	}
	issued := binary.BigEndian.Uint32(tok[:4])
	at := time.Unix(int64(issued), 0)
	now := m.cfg.Now()
	if now.Before(at.Add(-time.Minute)) || !now.Before(at.Add(m.cfg.VisitorCSRFLifetime)) {
		return false
	}
	ok = false
	for _, k := range m.csrfKeys {
		// Every key is tried, match or not: the time taken does not say which.
		if hmac.Equal(tok[4:], visitorMAC(k, nonce, issued)) {
			ok = true
		}
	}
	return ok
}
