package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParseToken(f *testing.F) {
	tok := NewToken().String()
	for _, s := range []string{
		tok, NewToken().Key(), "", tok[:42], tok + "A", tok + "=", tok[:42] + "=",
		"+" + tok[1:], tok[:40] + "%2D", " " + tok[1:], tok[:41] + "é", tok[:42] + "B",
		strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("A", 42) + "E",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) || got != "" {
				t.Fatalf("ParseToken(%q) = %q, %v", s, got, err)
			}
			if ValidKey(s) {
				t.Fatalf("ValidKey accepts rejected token %q", s)
			}
			return
		}
		if string(got) != s || len(s) != TokenLen || !ValidKey(s) {
			t.Fatalf("ParseToken(%q) = %q", s, got)
		}
		// Canonical: decoding and re-encoding gives the same text.
		raw, derr := b64.DecodeString(s)
		if derr != nil || len(raw) != 32 || b64.EncodeToString(raw) != s {
			t.Fatalf("accepted non-canonical token %q", s)
		}
		if k := got.Key(); !ValidKey(k) || Handle(k) == k {
			t.Fatalf("key/handle of %q", s)
		}
	})
}

// fuzzRing is fixed so the corpus stays meaningful across runs.
func fuzzRing(f *testing.F) (*Keyring, string) {
	r, err := NewKeyring(bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x17}, 32))
	if err != nil {
		f.Fatal(err)
	}
	return r, KeyFromToken(strings.Repeat("A", 43))
}

// openSeeds were sealed once by fuzzRing's keys (first three by the active
// key, the others by the old one alone) for store key
// KeyFromToken("AAA…A") and record type 's', with plaintexts "", "x" and
// "\x81\xa1a\x01". They are constants because seals are random: every
// fuzzing worker must agree on what the ring sealed.
var openSeeds = []string{
	"014910f2adb0cebc97a42a018df48550bfb1b25b9ebe3b316e0c2554a4f5",
	"01493ed4fa1ff4d05e7130dafb6984968eb4182bee5242976d4123c294556c",
	"0149c61ace8a02014a75c61a37730a233e059ac6b708ce6b2c00ce6a5d47a045fa41",
	"0124877f0ef5795b0d98b4f3c22d94dbba3c84b46d36d7c30c7ea5d85f4f",
	"0124d149f9e328da0a56c1e4402aa5f30fdae8a802a23f78613608befae1b7",
	"01247483cf081e1cf7c1ca3792917c505d244993a0cfe711dee8f764c882cb07e192",
}

func FuzzOpen(f *testing.F) {
	r, sk := fuzzRing(f)
	sealed := map[string]bool{}
	for _, h := range openSeeds {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		if _, _, err := r.Open(sk, 's', b); err != nil {
			f.Fatalf("seed %s does not open: %v", h, err)
		}
		sealed[string(b)] = true
		f.Add(b, byte('s'))
		f.Add(b, byte('x'))
		for _, i := range []int{0, 1, 5, 17, len(b) - 1} {
			c := bytes.Clone(b)
			c[i] ^= 0x01
			f.Add(c, byte('s'))
		}
	}
	valid, _ := hex.DecodeString(openSeeds[2])
	for _, b := range [][]byte{nil, {1}, valid[:envOverhead-1], valid[:envOverhead], append(bytes.Clone(valid), 0),
		append([]byte{2}, valid[1:]...), bytes.Repeat([]byte{1}, 64)} {
		f.Add(b, byte('s'))
	}
	f.Fuzz(func(t *testing.T, b []byte, recordType byte) {
		pt, stale, err := r.Open(sk, recordType, b)
		if err != nil {
			if err != ErrOpen || pt != nil || stale {
				t.Fatalf("Open failure = (%x, %v, %v), want exactly ErrOpen", pt, stale, err)
			}
			return
		}
		// Only what the ring sealed opens: the seeds, for record type
		// 's'; nothing the fuzzer made up.
		if recordType != 's' || !sealed[string(b)] {
			t.Fatalf("forged envelope opened: %x (type %q) -> %q", b, recordType, pt)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	when := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	vals := map[string][]byte{}
	for k, v := range map[string]any{"user_id": 1, "username": "alice", "created_at": when,
		"list": []any{1, "a", 2.5, nil, true}, "nested": map[string]any{"m": map[string]any{"x": -1}}, "bin": []byte{1, 2}} {
		vals[k], _ = EncodeValue(v, Limits{})
	}
	rec, _ := EncodeRecord(vals, Limits{})
	f.Add(rec)
	f.Add([]byte("\x80"))
	for _, v := range vals {
		f.Add(v)
		f.Add(append([]byte("\x81\xa1v"), v...))
	}
	for _, h := range hostile {
		if len(h.in) < 4096 {
			f.Add([]byte(h.in))
			f.Add(append([]byte("\x81\xa1v"), h.in...))
		}
	}
	f.Add([]byte(strings.Repeat("\x91", 40) + "\xc0"))
	f.Add([]byte("\x81\xa1v" + strings.Repeat("\x81\xa1k", 40) + "\xc0"))
	lim := Limits{MaxDepth: 8, MaxLen: 1024, MaxSize: 1 << 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
		}
		// The bytes as a single value, into the targets callers use.
		var a any
		check(DecodeValue(b, &a, lim))
		var m map[string]any
		check(DecodeValue(b, &m, lim))
		var s []string
		check(DecodeValue(b, &s, lim))
		var tm time.Time
		check(DecodeValue(b, &tm, lim))
		var st tagged
		check(DecodeValue(b, &st, lim))

		// The bytes as a record.
		values, err := DecodeRecord(b, lim)
		check(err)
		if err != nil {
			return
		}
		for _, raw := range values {
			// Values may still not fit any (a map with integer keys
			// decodes only into a typed map), but never panic.
			var a any
			check(DecodeValue(raw, &a, lim))
			var m map[int]any
			check(DecodeValue(raw, &m, lim))
		}
		// Re-encoding an accepted record gives an accepted record with the
		// same values.
		again, err := EncodeRecord(values, lim)
		if err != nil {
			t.Fatalf("re-encode accepted record: %v", err)
		}
		back, err := DecodeRecord(again, lim)
		if err != nil || len(back) != len(values) {
			t.Fatalf("decode re-encoded record: %v", err)
		}
		for k, v := range values {
			if !bytes.Equal(back[k], v) {
				t.Fatalf("value %q changed", k)
			}
		}
	})
}
