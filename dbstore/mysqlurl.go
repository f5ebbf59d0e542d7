package dbstore

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/vedfolnir/sessions/store"
)

// mysqlDefaults are the go-sql-driver/mysql parameters Open sets unless
// the URL does.
var mysqlDefaults = [][2]string{
	{"timeout", "10s"},
	{"readTimeout", "30s"},
	{"writeTimeout", "30s"},
	{"interpolateParams", "true"},
}

// mysqlOff are parameters that must stay false.
var mysqlOff = []string{"parseTime", "multiStatements"}

// mysqlDSN turns mysql://user:pass@host:port/db?params into the driver's
// user:pass@tcp(host:port)/db?params. Errors never repeat the URL, the
// user or the password.
func mysqlDSN(raw string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: database URL (DATABASE_URL) is not a valid mysql:// URL: %s", store.ErrInvalid, why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("malformed")
	}
	if u.Opaque != "" || u.Fragment != "" || u.RawFragment != "" {
		return "", bad("malformed")
	}
	user, pass := "", ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if strings.ContainsAny(user, ":@/") || strings.ContainsAny(pass, "\x00") || strings.ContainsRune(user, 0) {
		return "", bad("the user name holds ':', '@', '/' or NUL")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "3306"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", bad("port out of range")
	}
	if strings.ContainsAny(host, "()/@?") {
		return "", bad("malformed host")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		return "", bad("no database name: use mysql://user:pass@host:3306/dbname")
	}
	if strings.ContainsAny(db, "/\x00") || len(db) > 64 {
		return "", bad("malformed database name")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", bad("malformed query")
	}
	for k := range q {
		if !paramName(k) {
			return "", bad("malformed query parameter name")
		}
	}
	for _, k := range mysqlOff {
		if v := q.Get(k); v != "" && !strings.EqualFold(v, "false") && v != "0" {
			return "", fmt.Errorf("%w: database URL (DATABASE_URL) sets %s: the store needs it off", store.ErrInvalid, k)
		}
		q.Set(k, "false")
	}
	for _, kv := range mysqlDefaults {
		if !q.Has(kv[0]) {
			q.Set(kv[0], kv[1])
		}
	}
	var b strings.Builder
	if u.User != nil {
		b.WriteString(user)
		if _, ok := u.User.Password(); ok {
			b.WriteString(":" + pass)
		}
		b.WriteString("@")
	}
	// The driver finds the database after the last '/', so escape it.
	b.WriteString("tcp(" + net.JoinHostPort(host, port) + ")/" + url.PathEscape(db) + "?" + q.Encode())
	return b.String(), nil
}

// paramName reports whether s is a plausible driver parameter or system
// variable name: letters, digits and '_'.
func paramName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
