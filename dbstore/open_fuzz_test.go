package dbstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

// FuzzParseURL: any DATABASE_URL value maps to a known driver or to an
// ErrInvalid error, never a panic, and an error never repeats a password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"postgres://user:pw@host:5432/db?sslmode=disable", "postgresql://h/db", "POSTGRES://h",
		"sqlite:///var/lib/app/sessions.db", "sqlite://sessions.db", "sqlite:sessions.db", "sqlite://",
		"sqlite://:memory:", "file:sessions.db?mode=rwc", "file:x?%zz", "/var/lib/app/s.db", "s.db", ":memory:",
		"mysql://u:pw@h/db", "", "   ", "sqlite:///a?b#c%d", "sqlite:x?_pragma=journal_mode(DELETE)",
		"postgres://u:p@[::1", "a://b://c", "sqlite:?x=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const secret = "pw-f1a9"
		withSecret := strings.Replace(raw, "@", ":"+secret+"@", 1)
		for _, in := range []string{raw, withSecret} {
			drv, dsn, err := parseURL(in)
			if err != nil {
				if !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("parseURL(%q): %v, want ErrInvalid", in, err)
				}
				if in == withSecret && strings.Contains(withSecret, secret) && strings.Contains(err.Error(), secret) {
					t.Fatalf("parseURL(%q): error repeats the password: %v", in, err)
				}
				continue
			}
			switch drv {
			case "pgx":
				if dsn != strings.TrimSpace(in) {
					t.Fatalf("parseURL(%q): pgx DSN %q", in, dsn)
				}
			case "sqlite":
				if !strings.HasPrefix(strings.ToLower(dsn), "file:") {
					t.Fatalf("parseURL(%q): SQLite DSN %q is not a file: URI", in, dsn)
				}
			default:
				t.Fatalf("parseURL(%q): driver %q", in, drv)
			}
		}
	})
}
