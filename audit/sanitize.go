package audit

import (
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// clean makes untrusted text safe to store and to show: every byte of
// invalid UTF-8 becomes \xNN, every control character (C0, DEL, C1) \xNN or
// \uNNNN, and the bidirectional overrides and isolates (U+202A..U+202E,
// U+2066..U+2069, which can make a log line read differently from what it
// holds) \uNNNN. The result is valid UTF-8 without NUL, so PostgreSQL's
// text type takes it, and is cut to at most max bytes on a character
// boundary, with "…" when something was cut. Escaping, rather than
// deleting, keeps the evidence of a tampered header in the trail.
func clean(s string, max int) string {
	if max <= 0 {
		return ""
	}
	// Every input byte yields at least one output byte, so nothing past
	// this prefix can survive the cut: a header of megabytes costs no more
	// than one of max bytes.
	if len(s) > max+utf8.UTFMax {
		s = s[:max+utf8.UTFMax]
	}
	if isPlain(s) {
		return truncatePlain(s, max)
	}
	// Build token by token (a character, or one escape), so a cut never
	// splits either. softEnd is the last token boundary that leaves room
	// for the ellipsis.
	withEllipsis := max > 2*len(ellipsis)
	soft := max
	if withEllipsis {
		soft = max - len(ellipsis)
	}
	var b strings.Builder
	b.Grow(min(len(s)+16, max+8))
	var esc [6]byte
	softEnd := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		tok := esc[:0]
		switch {
		case r == utf8.RuneError && size <= 1:
			tok = append(tok, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xf])
		case r < 0x20 || r == 0x7f:
			tok = append(tok, '\\', 'x', hexDigits[r>>4], hexDigits[r&0xf])
		case 0x80 <= r && r < 0xa0, 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
			tok = append(tok, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		}
		n := size
		if len(tok) > 0 {
			n = len(tok)
		}
		if b.Len()+n > max {
			if withEllipsis {
				return b.String()[:softEnd] + ellipsis
			}
			return b.String()
		}
		if len(tok) > 0 {
			b.Write(tok)
		} else {
			b.WriteString(s[i : i+size])
		}
		if b.Len() <= soft {
			softEnd = b.Len()
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the common case.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// ellipsis marks cut text.
const ellipsis = "…"

// truncatePlain cuts ASCII s to at most max bytes, ending in an ellipsis
// when it cut (if the ellipsis fits).
func truncatePlain(s string, max int) string {
	switch {
	case len(s) <= max:
		return s
	case max > 2*len(ellipsis):
		return s[:max-len(ellipsis)] + ellipsis
	}
	return s[:max]
}
