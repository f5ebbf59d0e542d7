package sqlmigrate

import (
	"errors"
	"fmt"
	"testing"
)

func TestRebind(t *testing.T) {
	q := `SELECT "key" FROM "t" WHERE a = ? AND b = ?`
	for _, tc := range []struct {
		d    Dialect
		want string
	}{
		{SQLite, q},
		{Postgres, `SELECT "key" FROM "t" WHERE a = $1 AND b = $2`},
		{MySQL, "SELECT `key` FROM `t` WHERE a = ? AND b = ?"},
	} {
		if got := tc.d.Rebind(q); got != tc.want {
			t.Errorf("%s: Rebind = %q, want %q", tc.d.Name, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Dialect
	}{
		{"mysql", MySQL}, {" MariaDB ", MySQL}, {"postgresql", Postgres}, {"sqlite3", SQLite},
	} {
		d, err := Lookup(tc.name, nil)
		if err != nil || d.Name != tc.want.Name {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.name, d.Name, err, tc.want.Name)
		}
	}
	if _, err := Lookup("oracle", nil); !errors.Is(err, ErrUnknownDialect) {
		t.Errorf("Lookup(oracle): %v; want ErrUnknownDialect", err)
	}
	if _, err := Lookup("", nil); !errors.Is(err, ErrUnknownDialect) {
		t.Errorf("Lookup of no driver: %v; want ErrUnknownDialect", err)
	}
}

func TestMySQLErrors(t *testing.T) {
	dup := errors.New("Error 1062 (23000): Duplicate entry 'x' for key 'PRIMARY'")
	dead := fmt.Errorf("wrapped: %w", errors.New("Error 1213 (40001): Deadlock found when trying to get lock"))
	other := errors.New("Error 10620: something else")
	for _, tc := range []struct {
		err       error
		dup, dead bool
	}{
		{dup, true, false}, {dead, false, true}, {other, false, false}, {nil, false, false},
		{errors.New("Error 1062: Duplicate entry"), true, false},
	} {
		if IsDuplicate(tc.err) != tc.dup || IsDeadlock(tc.err) != tc.dead {
			t.Errorf("%v: IsDuplicate %v, IsDeadlock %v; want %v, %v", tc.err, IsDuplicate(tc.err), IsDeadlock(tc.err), tc.dup, tc.dead)
		}
	}
}
