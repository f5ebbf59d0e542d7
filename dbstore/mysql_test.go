package dbstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// A migration waits for another process's migration lock, and gives up
// when its context ends instead of hanging.
func TestMySQLMigrationLockHonoursContext(t *testing.T) {
	dsn := testserver.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(t.Context(),
		"SELECT GET_LOCK(CONCAT('sqlmigrate:', SHA1(CONCAT('dbstore', ':', DATABASE(), '.', 'sessions'))), 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the lock: %d, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = dbstore.New(ctx, db, dbstore.Options{DisableSweeper: true})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New while another holds the lock: %v; want ErrUnavailable and DeadlineExceeded", err)
	}
	t.Logf("New gave up after %v", time.Since(t0).Round(time.Millisecond))
	if d := time.Since(t0); d > 4*time.Second {
		t.Errorf("New gave up after %v; want about the context's 1.5 s", d)
	}
	// Released, the migration goes through.
	if _, err := holder.ExecContext(t.Context(), "DO RELEASE_LOCK(CONCAT('sqlmigrate:', SHA1(CONCAT('dbstore', ':', DATABASE(), '.', 'sessions'))))"); err != nil {
		t.Fatal(err)
	}
	s, err := dbstore.New(t.Context(), db, dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatalf("New after the lock was released: %v", err)
	}
	_ = s.Close()
}

// MySQL's default collations ignore case (and trailing spaces); the
// store's columns are binary, so keys and user ids that differ only in
// case stay apart, as on the other engines.
func TestMySQLCaseSensitive(t *testing.T) {
	s := openMySQL(t, dbstore.Options{DisableSweeper: true})
	a := storetest.NewEntry("Alice")
	b := storetest.NewEntry("alice")
	b.Key = swapCase(a.Key)
	if b.Key == a.Key {
		t.Fatal("a random store key with no letters (chance about 2^-200): run again")
	}
	if err := s.Put(t.Context(), a, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), b, 0); err != nil {
		t.Fatalf("create a key differing only in case: %v", err)
	}
	for _, e := range []*store.Entry{a, b} {
		got, err := s.Get(t.Context(), e.Key)
		if err != nil || got.UserID != e.UserID {
			t.Errorf("Get(%s) = %v, %v; want user %q", e.Key, got, err, e.UserID)
		}
	}
	list, err := s.ListUser(t.Context(), "Alice")
	if err != nil || len(list) != 1 || list[0].Key != a.Key {
		t.Errorf("ListUser(Alice) = %d entries, %v; want only Alice's", len(list), err)
	}
}

// swapCase flips the case of the first letter of a key (the last
// character of a canonical key carries padding bits, so it is left alone).
func swapCase(s string) string {
	for i := 0; i < len(s)-1; i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			return s[:i] + string(c-'a'+'A') + s[i+1:]
		case c >= 'A' && c <= 'Z':
			return s[:i] + string(c-'A'+'a') + s[i+1:]
		}
	}
	return s
}
