package dbstore

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/vedfolnir/sessions/store"
)

// FuzzParseURL: any DATABASE_URL value maps to a known driver or to an
// ErrInvalid error, never a panic, and an error never repeats a password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"postgres://user:pw@host:5432/db?sslmode=disable", "postgresql://h/db", "POSTGRES://h",
		"sqlite:///var/lib/app/sessions.db", "sqlite://sessions.db", "sqlite:sessions.db", "sqlite://",
		"sqlite://:memory:", "file:sessions.db?mode=rwc", "file:x?%zz", "/var/lib/app/s.db", "s.db", ":memory:",
		"mysql://u:pw@h/db", "mysql://u:pw@127.0.0.1:3306/db?tls=true", "mariadb://h/db", "mysql://:pw@h/db",
		"mysql://u:p%40ss%2Fw(o)rd@[::1]:3307/d%20b?timeout=1s&sql_mode=%27ANSI%27", "mysql://u@h:0/db",
		"mysql://u:pw@h/db?multiStatements=true", "mysql://u:pw@h/", "mysql://u:pw@h/db?parseTime=false",
		"", "   ", "sqlite:///a?b#c%d", "sqlite:x?_pragma=journal_mode(DELETE)",
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
			case "mysql":
				checkMySQLDSN(t, in, dsn)
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

// checkMySQLDSN: the driver reads back the URL's user, password, address
// and database, with parseTime and multiStatements off.
func checkMySQLDSN(t *testing.T, in, dsn string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// A parameter value the driver refuses (timeout=x) is Open's
		// ErrInvalid; the rest of the DSN must still parse.
		base, _, _ := strings.Cut(dsn, "?")
		if cfg, err = mysql.ParseDSN(base); err != nil {
			t.Fatalf("parseURL(%q): DSN %q does not parse: %v", in, dsn, err)
		}
	}
	u, err := url.Parse(strings.TrimSpace(in))
	if err != nil {
		t.Fatalf("parseURL(%q) accepted a URL url.Parse refuses: %v", in, err)
	}
	wantUser, wantPass := "", ""
	if u.User != nil {
		wantUser = u.User.Username()
		wantPass, _ = u.User.Password()
	}
	if cfg.User != wantUser || cfg.Passwd != wantPass {
		t.Fatalf("parseURL(%q): DSN %q reads back user %q password %q", in, dsn, cfg.User, cfg.Passwd)
	}
	if cfg.DBName != strings.TrimPrefix(u.Path, "/") || cfg.Net != "tcp" || cfg.Addr == "" {
		t.Fatalf("parseURL(%q): DSN %q reads back db %q at %s(%s)", in, dsn, cfg.DBName, cfg.Net, cfg.Addr)
	}
	if cfg.ParseTime || cfg.MultiStatements {
		t.Fatalf("parseURL(%q): DSN %q has parseTime or multiStatements on", in, dsn)
	}
}

func TestMySQLDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mysql://app:pw@127.0.0.1:3306/appdb",
			"app:pw@tcp(127.0.0.1:3306)/appdb?interpolateParams=true&multiStatements=false&parseTime=false&readTimeout=30s&timeout=10s&writeTimeout=30s"},
		{"mariadb://db.internal/appdb?tls=true&timeout=2s",
			"tcp(db.internal:3306)/appdb?interpolateParams=true&multiStatements=false&parseTime=false&readTimeout=30s&timeout=2s&tls=true&writeTimeout=30s"},
		{"mysql://app:p%40ss%2F%3Aw@[::1]:3307/app?interpolateParams=false",
			"app:p@ss/:w@tcp([::1]:3307)/app?interpolateParams=false&multiStatements=false&parseTime=false&readTimeout=30s&timeout=10s&writeTimeout=30s"},
	} {
		drv, dsn, err := parseURL(tc.in)
		if err != nil || drv != "mysql" || dsn != tc.want {
			t.Errorf("parseURL(%q) = %q, %q, %v; want mysql, %q", tc.in, drv, dsn, err, tc.want)
		}
	}
}
