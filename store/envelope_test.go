package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return k
}

func testRing(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	r, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustOpenFail requires exactly ErrOpen: the same value, not just a wrapper.
func mustOpenFail(t *testing.T, what string, pt []byte, stale bool, err error) {
	t.Helper()
	if err != ErrOpen || !errors.Is(err, ErrOpen) || pt != nil || stale {
		t.Fatalf("%s: got (%x, %v, %v), want exactly ErrOpen", what, pt, stale, err)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	r := testRing(t, testKey(t))
	sk := NewToken().Key()
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("session"), 1000)} {
		sealed, err := r.Seal(sk, 's', pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(pt)+envOverhead {
			t.Fatalf("sealed %d bytes for %d of plaintext", len(sealed), len(pt))
		}
		if len(pt) > 8 && bytes.Contains(sealed, pt[:8]) {
			t.Fatal("plaintext visible in envelope")
		}
		got, stale, err := r.Open(sk, 's', sealed)
		if err != nil || stale || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, %v, %v", got, stale, err)
		}
	}
	// Two seals of the same plaintext differ (random nonce).
	a, _ := r.Seal(sk, 's', []byte("same"))
	b, _ := r.Seal(sk, 's', []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals are identical")
	}
}

func TestEnvelopeBinding(t *testing.T) {
	r := testRing(t, testKey(t))
	skA, skB := NewToken().Key(), NewToken().Key()
	sealed, err := r.Seal(skA, 's', []byte("values"))
	if err != nil {
		t.Fatal(err)
	}
	pt, stale, err := r.Open(skB, 's', sealed)
	mustOpenFail(t, "other store key", pt, stale, err)
	pt, stale, err = r.Open(skA, 'x', sealed)
	mustOpenFail(t, "other record type", pt, stale, err)
	pt, stale, err = r.Open("", 's', sealed)
	mustOpenFail(t, "empty store key", pt, stale, err)
	pt, stale, err = testRing(t, testKey(t)).Open(skA, 's', sealed)
	mustOpenFail(t, "unknown key id", pt, stale, err)

	// Same key id, other version byte.
	v2 := bytes.Clone(sealed)
	v2[0] = 2
	pt, stale, err = r.Open(skA, 's', v2)
	mustOpenFail(t, "version 2", pt, stale, err)

	var nilRing *Keyring
	pt, stale, err = nilRing.Open(skA, 's', sealed)
	mustOpenFail(t, "nil ring", pt, stale, err)
	if _, err := nilRing.Seal(skA, 's', nil); !errors.Is(err, ErrKeyring) {
		t.Fatalf("nil ring Seal: %v", err)
	}
}

func TestEnvelopeEveryBitFlip(t *testing.T) {
	r := testRing(t, testKey(t), testKey(t))
	sk := NewToken().Key()
	sealed, err := r.Seal(sk, 's', []byte("user_id=1 role=admin"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for bit := range 8 {
			c := bytes.Clone(sealed)
			c[i] ^= 1 << bit
			pt, stale, err := r.Open(sk, 's', c)
			mustOpenFail(t, fmt.Sprintf("byte %d bit %d", i, bit), pt, stale, err)
		}
	}
}

func TestEnvelopeTruncationsAndExtensions(t *testing.T) {
	r := testRing(t, testKey(t))
	sk := NewToken().Key()
	sealed, err := r.Seal(sk, 's', []byte("some session values"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		pt, stale, err := r.Open(sk, 's', sealed[:n])
		mustOpenFail(t, fmt.Sprintf("length %d", n), pt, stale, err)
		pt, stale, err = r.Open(sk, 's', sealed[len(sealed)-n:])
		mustOpenFail(t, fmt.Sprintf("suffix %d", n), pt, stale, err)
	}
	pt, stale, err := r.Open(sk, 's', append(bytes.Clone(sealed), 0))
	mustOpenFail(t, "appended byte", pt, stale, err)
}

func TestEnvelopeRotation(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	sk := NewToken().Key()
	old := testRing(t, oldKey)
	sealed, err := old.Seal(sk, 's', []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	both := testRing(t, newKey, oldKey)
	pt, stale, err := both.Open(sk, 's', sealed)
	if err != nil || !stale || string(pt) != "v" {
		t.Fatalf("open old under [new, old] = %q, %v, %v; want stale", pt, stale, err)
	}
	resealed, err := both.Seal(sk, 's', pt)
	if err != nil {
		t.Fatal(err)
	}
	pt, stale, err = both.Open(sk, 's', resealed)
	if err != nil || stale || string(pt) != "v" {
		t.Fatalf("open re-sealed = %q, %v, %v; want fresh", pt, stale, err)
	}
	onlyNew := testRing(t, newKey)
	if pt, stale, err = onlyNew.Open(sk, 's', resealed); err != nil || stale || string(pt) != "v" {
		t.Fatalf("open re-sealed under [new] = %q, %v, %v", pt, stale, err)
	}
	pt, stale, err = onlyNew.Open(sk, 's', sealed)
	mustOpenFail(t, "old envelope after old key retired", pt, stale, err)
	if both.ActiveID() == old.ActiveID() || both.Len() != 2 {
		t.Fatalf("ActiveID/Len: %s %s %d", both.ActiveID(), old.ActiveID(), both.Len())
	}
}

func TestNewKeyringErrors(t *testing.T) {
	k := testKey(t)
	for name, keys := range map[string][][]byte{
		"none":      nil,
		"short":     {k[:31]},
		"long":      {append(bytes.Clone(k), 0)},
		"duplicate": {k, testKey(t), bytes.Clone(k)},
	} {
		if _, err := NewKeyring(keys...); !errors.Is(err, ErrKeyring) {
			t.Errorf("%s: err = %v, want ErrKeyring", name, err)
		}
	}
	// The ring copies its keys.
	r := testRing(t, k)
	sealed, _ := r.Seal("sk", 's', []byte("v"))
	k[0] ^= 0xff
	if _, _, err := r.Open("sk", 's', sealed); err != nil {
		t.Fatalf("ring changed with caller's slice: %v", err)
	}
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := testKey(t), testKey(t)
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	for _, e1 := range encs {
		for _, e2 := range encs {
			s := " " + e1.EncodeToString(k1) + " ,\t" + e2.EncodeToString(k2) + "\n"
			r, err := ParseKeyring(s)
			if err != nil {
				t.Fatalf("ParseKeyring: %v", err)
			}
			want := testRing(t, k1, k2)
			if r.Len() != 2 || r.ActiveID() != want.ActiveID() {
				t.Fatal("wrong ring")
			}
			sealed, _ := want.Seal("sk", 's', []byte("v"))
			if _, _, err := r.Open("sk", 's', sealed); err != nil {
				t.Fatalf("parsed ring cannot open: %v", err)
			}
		}
	}
	gen := GenerateKey()
	if r, err := ParseKeyring(gen); err != nil || r.Len() != 1 {
		t.Fatalf("GenerateKey output: %v", err)
	}
	if GenerateKey() == gen {
		t.Fatal("GenerateKey repeats")
	}
}

func TestParseKeyringErrors(t *testing.T) {
	good := GenerateKey()
	short := base64.StdEncoding.EncodeToString(testKey(t)[:31])
	for _, tc := range []struct {
		in, pos, secret string
	}{
		{"", "", ""},
		{"  ", "", ""},
		{good + ",", "item 2", good},
		{"," + good, "item 1", good},
		{good + "," + short, "item 2", short},
		{good + ",not base64 at all!!", "item 2", "not base64"},
		{good + "," + good[:42] + "*", "item 2", good[:42]},
		{good + "," + good + "==", "item 2", good},          // bad padding
		{good + "," + good[:42] + "=", "item 2", good[:42]}, // padding in place of data
		{good + "," + good + "A", "item 2", good},           // 44 characters
		{good + "," + good[:42] + "B", "item 2", "B"},       // non-canonical last character
		{good + "," + good, "", good},                       // duplicate
	} {
		_, err := ParseKeyring(tc.in)
		if err == nil {
			t.Fatalf("ParseKeyring(%q) succeeded", tc.in)
		}
		msg := err.Error()
		if !errors.Is(err, ErrKeyring) || !strings.Contains(msg, EnvKeys) || !strings.Contains(msg, tc.pos) {
			t.Errorf("ParseKeyring(%q) = %q: want ErrKeyring naming %s and %q", tc.in, msg, EnvKeys, tc.pos)
		}
		if tc.secret != "" && len(tc.secret) > 4 && strings.Contains(msg, tc.secret) {
			t.Errorf("error %q leaks key text", msg)
		}
		if strings.Contains(msg, good) || strings.Contains(msg, good[:10]) {
			t.Errorf("error %q leaks key text", msg)
		}
	}
}

func TestKeyRedaction(t *testing.T) {
	raw := testKey(t)
	r := testRing(t, raw)
	k := r.keys[0]
	forms := []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		fmt.Sprintf("%x", raw), fmt.Sprintf("%v", raw), fmt.Sprintf("%d", raw[:8]), string(raw),
	}
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("keys", "key", k, "ring", r, "keyptr", &k)
	slog.New(slog.NewTextHandler(&out, nil)).Info("keys", "key", k, "ring", r)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, f+"\n", k)
		fmt.Fprintf(&out, f+"\n", r)
		fmt.Fprintf(&out, f+"\n", &k)
		fmt.Fprintf(&out, f+"\n", struct{ K Key }{k})
		fmt.Fprintf(&out, f+"\n", []Key{k})
	}
	j, _ := json.Marshal(struct {
		K Key
		R *Keyring
	}{k, r})
	out.Write(j)
	s := out.String()
	for _, f := range forms {
		if strings.Contains(s, f) {
			t.Fatalf("key material in output:\n%s", s)
		}
	}
	if !strings.Contains(s, "[REDACTED]") || !strings.Contains(s, r.ActiveID()) {
		t.Fatalf("output lacks redaction marker or key id:\n%s", s)
	}
	if len(k.ID()) != 8 {
		t.Fatalf("ID %q", k.ID())
	}
}

// SealWith binds its extra bytes: the envelope opens with the same extra
// only, and never as a plain Seal's (nil and empty extra differ too).
func TestSealWithBindsExtra(t *testing.T) {
	r, err := NewKeyring(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sk := KeyFromToken(NewToken().String())
	sealed, err := r.SealWith(sk, 'b', []byte("user-1|times"), []byte("values"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, _, err := r.OpenWith(sk, 'b', []byte("user-1|times"), sealed); err != nil || string(pt) != "values" {
		t.Fatalf("OpenWith = %q, %v", pt, err)
	}
	for name, extra := range map[string][]byte{"other": []byte("user-2|times"), "nil": nil, "empty": {}, "shifted": []byte("user-1|time")} {
		if _, _, err := r.OpenWith(sk, 'b', extra, sealed); err != ErrOpen {
			t.Errorf("%s extra: err = %v, want ErrOpen", name, err)
		}
	}
	if _, _, err := r.Open(sk, 'b', sealed); err != ErrOpen {
		t.Errorf("Open without the extra: %v", err)
	}
	plain, err := r.Seal(sk, 'b', []byte("values"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.OpenWith(sk, 'b', []byte{}, plain); err != ErrOpen {
		t.Errorf("a plain envelope opened with empty extra: %v", err)
	}
	if _, err := r.SealWith(sk, 'b', make([]byte, 1<<16), nil); err == nil {
		t.Error("SealWith took 65,536 extra bytes")
	}
}

// The per-entry AEAD cache is bounded and never confuses entries: past
// its size every envelope still opens under its own store key only, and
// a ring built from another key opens none of them.
func TestAEADCacheBounded(t *testing.T) {
	k1 := make([]byte, KeySize)
	k1[0] = 1
	k2 := make([]byte, KeySize)
	k2[0] = 2
	r, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeyring(k2)
	if err != nil {
		t.Fatal(err)
	}
	n := aeadCacheSize + 100
	keys := make([]string, n)
	sealed := make([][]byte, n)
	for i := range keys {
		keys[i] = NewToken().Key()
		if sealed[i], err = r.Seal(keys[i], 1, []byte(keys[i])); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(r.keys[0].aeads.m); got > aeadCacheSize {
		t.Fatalf("cache holds %d AEADs, bound %d", got, aeadCacheSize)
	}
	for i := range keys {
		pt, _, err := r.Open(keys[i], 1, sealed[i])
		if err != nil || string(pt) != keys[i] {
			t.Fatalf("entry %d: %q, %v", i, pt, err)
		}
		if _, _, err := r.Open(keys[(i+1)%n], 1, sealed[i]); err == nil {
			t.Fatalf("entry %d opened under another store key", i)
		}
		if _, _, err := other.Open(keys[i], 1, sealed[i]); err == nil {
			t.Fatalf("entry %d opened under another ring", i)
		}
	}
}
