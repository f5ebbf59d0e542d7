package redact

import (
	"strings"
	"testing"
)

const secret = "s3cr3t-9f"

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://:" + secret + "@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://app:" + secret + "@h:6379", "redis://app:xxxxx@h:6379"},
		{"redis://" + secret + "@h:6379", "redis://xxxxx@h:6379"},
		{"rediss://u:" + secret + "@h:6380?dial_timeout=1s", "rediss://u:xxxxx@h:6380?dial_timeout=1s"},
		{"redis+sentinel://h:26379?master_name=m&password=" + secret + "&sentinel_password=" + secret,
			"redis+sentinel://h:26379?master_name=m&password=xxxxx&sentinel_password=xxxxx"},
		{"redis+cluster://h1:7000,h2:7001?password=" + secret, "redis+cluster://h1:7000,h2:7001?password=xxxxx"},
		{"postgres://app:" + secret + "@127.0.0.1:5432/db?sslmode=require&sslpassword=" + secret,
			"postgres://app:xxxxx@127.0.0.1:5432/db?sslmode=require&sslpassword=xxxxx"},
		{"mysql://root:" + secret + "@127.0.0.1:3306/db", "mysql://root:xxxxx@127.0.0.1:3306/db"},
		{"postgres://h/db?PassWord=" + secret, "postgres://h/db?PassWord=xxxxx"},
		{"postgres://h/db?x=%zz&password=" + secret, "postgres://h/db?x=%zz&password=xxxxx"},
		{"postgres://u:" + secret + "@[::1", "postgres://xxxxx"},
		{"pw" + secret + "@://x", "xxxxx"},
		{"sqlite:///var/lib/app/sessions.db", "sqlite:///var/lib/app/sessions.db"},
		{"/var/lib/app/sessions.db", "/var/lib/app/sessions.db"},
		{"file:s.db?_journal_mode=WAL", "file:s.db?_journal_mode=WAL"},
		{"redis://h#" + secret, "redis://h#xxxxx"},
		{"", ""},
	} {
		got := URL(tc.in)
		if got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, secret) {
			t.Errorf("URL(%q) = %q leaks the secret", tc.in, got)
		}
	}
}

// FuzzURL: a secret placed as a password or as a password-like query value
// never survives, and URL never panics.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"redis://h:1", "postgres://u@h/db?sslmode=disable", "redis+sentinel://h?master_name=m",
		"x://[::1", "%zz://a@b", "a?b=c&d", "mysql://u@tcp(h:3306)/db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.Contains(raw, secret) {
			return
		}
		for _, in := range []string{
			strings.Replace(raw, "@", ":"+secret+"@", 1),
			raw + "&password=" + secret,
			raw + "?sentinel_password=" + secret,
		} {
			if !strings.Contains(in, secret) {
				continue
			}
			if got := URL(in); strings.Contains(got, secret) && looksLikeURL(in) {
				t.Fatalf("URL(%q) = %q leaks the secret", in, got)
			}
		}
	})
}

// looksLikeURL: the inputs the contract covers, those with a scheme.
func looksLikeURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && ValidScheme(scheme)
}
