package store

import (
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
)

// The pooled single-block expansion must equal crypto/hkdf's HKDF-SHA256
// exactly, or envelopes sealed before would stop opening.
func TestEntryKeyIsHKDF(t *testing.T) {
	k := newKey([]byte("0123456789abcdef0123456789abcdef"))
	for _, storeKey := range []string{"", "a", NewToken().Key()} {
		want, err := hkdf.Key(sha256.New, k.secret[:], nil, hkdfInfo+storeKey, KeySize)
		if err != nil {
			t.Fatal(err)
		}
		m := k.expand.Get().(interface {
			Reset()
			Write([]byte) (int, error)
			Sum([]byte) []byte
		})
		m.Reset()
		m.Write([]byte(hkdfInfo + storeKey))
		m.Write([]byte{1})
		got := m.Sum(nil)
		if string(got) != string(want) {
			t.Fatalf("entry key for %q differs from HKDF", storeKey)
		}
	}
}
