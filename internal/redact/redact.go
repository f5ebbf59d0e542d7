// Package redact masks the secrets a connection URL may carry, for every
// place a URL is logged, shown or put in an error.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces each secret.
const Mask = "xxxxx"

// secretKey matches query keys that carry secrets: password,
// sentinel_password, sslpassword, pwd, secret, token, auth, api_key ...
var secretKey = regexp.MustCompile(`(?i)(pass|pwd|secret|token|auth|credential|api_?key|private)`)

// atCred finds what looks like user:password@ after the authority (in a
// path, say), where url.Parse sees no user info.
var atCred = regexp.MustCompile(`:[^/:@?#&;]*@`)

// rawPair finds key=value pairs, wherever they are.
var rawPair = regexp.MustCompile(`([?&;/]|^)([^=&;?#/]*)=([^&;?#]*)`)

// URL returns raw with its secrets masked: the password of the user info
// (the whole user info when it has no ':', since some clients take a lone
// user info as the password), and the value of every query parameter whose
// name looks like a secret. Anything it cannot parse is masked whole after
// the scheme, so nothing unparsed leaks.
func URL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Opaque != "" && strings.Contains(u.Opaque, "@")) {
		return fallback(raw)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else if u.User.Username() != "" {
			u.User = url.User(Mask)
		}
	}
	if u.Fragment != "" {
		u.Fragment = Mask
	}
	// Pairs are masked in the whole rest, not only in a parsed query: a
	// value may hide another "?password=" and a path may hold "&key=".
	out := u.String()
	// After the scheme ("a://", or "a:" when url.String dropped an empty
	// authority) and past the user info it kept (already masked), mask
	// anything credential-shaped.
	i, skip := strings.Index(out, "://"), 3
	if i < 0 {
		i, skip = strings.IndexByte(out, ':'), 1
	}
	head, rest := "", out
	if i >= 0 {
		head, rest = out[:i+skip], out[i+skip:]
	}
	if at := strings.LastIndex(rest, Mask+"@"); at >= 0 {
		head, rest = head+rest[:at+len(Mask)+1], rest[at+len(Mask)+1:]
	}
	return maskPairs(head + atCred.ReplaceAllString(rest, ":"+Mask+"@"))
}

// fallback masks everything after the scheme of a URL that does not parse.
func fallback(raw string) string {
	if scheme, _, ok := strings.Cut(raw, "://"); ok && ValidScheme(scheme) {
		return scheme + "://" + Mask
	}
	return Mask
}

func maskPairs(q string) string {
	return rawPair.ReplaceAllStringFunc(q, func(m string) string {
		p := rawPair.FindStringSubmatch(m)
		if secretKey.MatchString(p[2]) {
			return p[1] + p[2] + "=" + Mask
		}
		return m
	})
}

// ValidScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" or "."), short enough to quote in an error.
func ValidScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
