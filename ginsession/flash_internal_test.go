package ginsession

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

func mustEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := store.EncodeValue(v, store.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Default-category text flashes are stored exactly as earlier releases
// stored them, a []string, so an instance not yet upgraded reads them.
func TestFlashEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []flash
		want any // what the encoding equals, as a Go value
	}{
		{"text only", []flash{{raw: mustEncode(t, "a")}, {raw: mustEncode(t, "b")}}, []string{"a", "b"}},
		{"typed", []flash{{raw: mustEncode(t, 1)}}, []any{[]any{"", 1}}},
		{"category", []flash{{cat: "c", raw: mustEncode(t, "a")}}, []any{[]any{"c", "a"}}},
		{"mixed", []flash{{raw: mustEncode(t, "a")}, {cat: "c", raw: mustEncode(t, nil)}}, []any{"a", []any{"c", nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeFlashes(tc.list, store.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if want := mustEncode(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("encoded % x, want % x", got, want)
			}
			back, err := decodeFlashes(got, store.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !sameFlashes(back, tc.list) {
				t.Fatalf("round trip: %v, want %v", back, tc.list)
			}
		})
	}
}

func sameFlashes(a, b []flash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].cat != b[i].cat || !bytes.Equal(a[i].raw, b[i].raw) {
			return false
		}
	}
	return true
}

// FuzzFlashes: whatever bytes a store holds under the flashes key, decoding
// never panics, fails with an error wrapping store.ErrDecode, or yields
// flashes that encode and decode back to themselves. Reading a flash into
// any either works or is an error wrapping store.ErrDecode (a map with
// integer keys has no interface form): never a panic.
func FuzzFlashes(f *testing.F) {
	for _, seed := range [][]byte{
		mustEncode(f, []string{"a", "b"}),                          // the old format
		mustEncode(f, []any{"a", []any{"c", 1}, []any{"", nil}}),   // the new one
		mustEncode(f, []any{[]any{"t", map[string]any{"L": "x"}}}), // a struct-like value
		mustEncode(f, []any{}),
		mustEncode(f, nil),
		mustEncode(f, "not a list"),
		mustEncode(f, []any{1}),                      // neither string nor pair
		mustEncode(f, []any{[]any{1, "x"}}),          // a category that is not a string
		mustEncode(f, []any{[]any{"c"}}),             // a pair of one
		mustEncode(f, []any{[]any{"c", 1, 2}}),       // a pair of three
		mustEncode(f, []any{[]any{"c", []any{}}}),    // an empty list value
		{0x91, 0x92, 0xa1, 'c'},                      // truncated
		{0xdd, 0xff, 0xff, 0xff, 0xff},               // a list that declares 4 billion items
		[]byte(strings.Repeat("\x91", 300) + "\xc0"), // nesting far past MaxDepth
		{0x91, 0xd9, 0x05, 'a'},                      // a str8 shorter than it says
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		list, err := decodeFlashes(raw, store.Limits{})
		if err != nil {
			if !errors.Is(err, store.ErrDecode) {
				t.Fatalf("error %v does not wrap store.ErrDecode", err)
			}
			return
		}
		for _, fl := range list {
			var v any
			if err := store.DecodeValue(fl.raw, &v, store.Limits{}); err != nil && !errors.Is(err, store.ErrDecode) {
				t.Fatalf("flash %x of category %q: %v", fl.raw, fl.cat, err)
			}
		}
		enc, err := encodeFlashes(list, store.Limits{})
		if err != nil {
			// The list may nest one level deeper once a legacy string
			// becomes a pair: only a limit may refuse it.
			if !errors.Is(err, store.ErrLimit) {
				t.Fatalf("re-encoding %x: %v", raw, err)
			}
			return
		}
		back, err := decodeFlashes(enc, store.Limits{})
		if err != nil || !sameFlashes(back, list) {
			t.Fatalf("round trip of %x: %v, %v", raw, back, err)
		}
	})
}
