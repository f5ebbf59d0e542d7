package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"", 100, ""},
		{"abc", 0, ""},
		{"tab\there", 100, `tab\x09here`},
		{"del\x7f", 100, `del\x7f`},
		{"\xc3", 100, `\xc3`},
		{"é", 100, "é"},
		{"\u2066iso\u2069", 100, `\u2066iso\u2069`},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"abcdefghijk", 5, "abcde"},
		{"ééééé", 9, "ééé…"},
		{"ééééé", 5, "éé"},
		{"\x00\x00", 6, `\x00`},
	}
	for _, tc := range cases {
		if got := clean(tc.in, tc.max); got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0", "a\r\nb", "\x00", "\xff\xfe", "evil\u202e", strings.Repeat("日", 300), "'); DROP TABLE x; --"} {
		f.Add(s, 512)
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max % 2048
		if max < 0 {
			max = -max
		}
		got := clean(s, max)
		if len(got) > max {
			t.Fatalf("len %d > %d", len(got), max)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8: %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 {
				t.Fatalf("unescaped %U in %q", r, got)
			}
		}
		if isPlain(s) && len(s) <= max && got != s {
			t.Fatalf("plain text changed: %q -> %q", s, got)
		}
	})
}
