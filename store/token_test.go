package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestNewToken(t *testing.T) {
	seen := map[Token]bool{}
	for range 1000 {
		tok := NewToken()
		if len(tok) != TokenLen {
			t.Fatalf("len %d", len(tok))
		}
		got, err := ParseToken(tok.String())
		if err != nil || got != tok {
			t.Fatalf("ParseToken(NewToken()) = %q, %v", got, err)
		}
		if seen[tok] {
			t.Fatal("NewToken repeated")
		}
		seen[tok] = true
	}
}

func TestParseTokenRejects(t *testing.T) {
	tok := NewToken().String()
	last := strings.IndexByte(b64Alphabet, tok[42])
	cases := map[string]string{
		"empty":             "",
		"42 chars":          tok[:42],
		"44 chars":          tok + "A",
		"padding":           tok + "=",
		"padding in place":  tok[:42] + "=",
		"plus":              "+" + tok[1:],
		"slash":             tok[:10] + "/" + tok[11:],
		"url escaped long":  tok[:20] + "%2D" + tok[21:],
		"url escaped 43":    tok[:40] + "%2D",
		"space":             tok[:42] + " ",
		"leading space":     " " + tok[1:],
		"newline":           tok[:20] + "\n" + tok[21:],
		"carriage return":   tok[:42] + "\r",
		"tab":               "\t" + tok[1:],
		"nul":               tok[:42] + "\x00",
		"unicode 43 bytes":  tok[:41] + "é",
		"unicode 43 runes":  tok[:42] + "é",
		"fullwidth letter":  tok[:40] + "Ａ",
		"invalid utf8":      tok[:42] + "\xff",
		"dot":               tok[:42] + ".",
		"std base64 of 32b": strings.ReplaceAll(strings.ReplaceAll(tok, "-", "+"), "_", "/") + "=",
	}
	for bits := 1; bits <= 3; bits++ {
		cases["non-canonical last char "+string(rune('0'+bits))] = tok[:42] + string(b64Alphabet[last^bits])
	}
	for name, s := range cases {
		if s == tok {
			continue // a replacement that happened to change nothing
		}
		if got, err := ParseToken(s); !errors.Is(err, ErrMalformedToken) || got != "" {
			t.Errorf("%s: ParseToken(%q) = %q, %v; want ErrMalformedToken", name, s, got, err)
		}
		if ValidKey(s) {
			t.Errorf("%s: ValidKey(%q) = true", name, s)
		}
	}
}

func TestParseTokenCanonicalLastChar(t *testing.T) {
	// Of the 64 possible last characters, exactly the 16 with the low two
	// bits clear are canonical.
	tok := NewToken().String()
	ok := 0
	for i := range len(b64Alphabet) {
		if _, err := ParseToken(tok[:42] + string(b64Alphabet[i])); err == nil {
			ok++
			if i&3 != 0 {
				t.Errorf("accepted non-canonical last char %q", b64Alphabet[i])
			}
		}
	}
	if ok != 16 {
		t.Fatalf("%d canonical last characters, want 16", ok)
	}
}

func TestKeyFromToken(t *testing.T) {
	tok := NewToken()
	key := tok.Key()
	if key != KeyFromToken(tok.String()) || len(key) != KeyLen || !ValidKey(key) {
		t.Fatalf("key %q", key)
	}
	if key == tok.String() || KeyFromToken(NewToken().String()) == key {
		t.Fatal("key collides")
	}
	h := Handle(key)
	if h == key || h == tok.String() || len(h) != 22 || Handle(key) != h || Handle(NewToken().Key()) == h {
		t.Fatalf("handle %q", h)
	}
	if strings.Contains(key, h) || strings.Contains(tok.String(), h) {
		t.Fatal("handle is part of key or token")
	}
}

func TestTokenLogValue(t *testing.T) {
	tok := NewToken()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", tok)
	if strings.Contains(buf.String(), tok.String()) || !strings.Contains(buf.String(), "[REDACTED]") {
		t.Fatalf("token not redacted: %s", buf.String())
	}
}
