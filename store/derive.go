package store

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// SubKeys derives one 32-byte key per ring key for purpose, active key
// first: HKDF-SHA256 with the ring key as secret and "sessions/sub/" +
// purpose as info. A sub-key is independent of the envelope keys and of the
// sub-keys of every other purpose, so an application can MAC its own
// short-lived tokens (a CSRF token for a visitor without a session, say)
// without a secret of its own: make them with the first key, accept any
// (key rotation then retires old tokens as it retires old envelopes).
func (k *Keyring) SubKeys(purpose string) [][]byte {
	out := make([][]byte, 0, len(k.keys))
	for i := range k.keys {
		sub, err := hkdf.Key(sha256.New, k.keys[i].secret[:], nil, "sessions/sub/"+purpose, KeySize)
		if err != nil {
			// Unreachable: 32 bytes is far below HKDF-SHA256's limit.
			panic("store: hkdf: " + err.Error())
		}
		out = append(out, sub)
	}
	return out
}
