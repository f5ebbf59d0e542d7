package dbstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
)

// newEntry builds an entry as the session layer would: the key is the hash
// of a fresh token, the payload a sealed envelope.
func newEntry(userID string) *store.Entry {
	now := time.Now()
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          1,
		UserID:           userID,
		Created:          now,
		LastActivity:     now,
		IdleDeadline:     now.Add(30 * time.Minute),
		AbsoluteDeadline: now.Add(12 * time.Hour),
		Payload:          []byte("sealed envelope"),
	}
	e.Normalize()
	return e
}

// Open takes a DATABASE_URL-style string. With no server at all, a SQLite
// file serves.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "dbstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := dbstore.Open(ctx, "sqlite://"+filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close() // stops the sweeper and closes the database

	e := newEntry("alice")
	if err := s.Put(ctx, e, 0); err != nil { // prev 0: create
		fmt.Println(err)
		return
	}
	got, err := s.Get(ctx, e.Key)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Version, got.UserID, string(got.Payload))

	// Creating the same key again loses: the key is taken.
	fmt.Println(errors.Is(s.Put(ctx, e, 0), store.ErrConflict))
	// Output:
	// 1 alice sealed envelope
	// true
}

// New takes a *sql.DB the application already has. Updates are
// compare-and-set on the version; the per-user index lists and revokes a
// user's sessions.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "dbstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// Several connections are fine with a busy timeout; see New.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_busy_timeout=10000&_journal_mode=WAL")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	ctx := context.Background()
	s, err := dbstore.New(ctx, db, dbstore.Options{Table: "web_sessions"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close() // stops the sweeper; db stays open

	laptop, phone := newEntry("bob"), newEntry("bob")
	_ = s.Put(ctx, laptop, 0)
	_ = s.Put(ctx, phone, 0)

	// Save version 2 of the laptop session, expecting version 1.
	v2 := laptop.Clone()
	v2.Version = 2
	fmt.Println("save v2:", s.Put(ctx, v2, 1))
	// A slow request that still expects version 1 loses.
	stale := laptop.Clone()
	stale.Version = 2
	fmt.Println("stale save conflicts:", errors.Is(s.Put(ctx, stale, 1), store.ErrConflict))

	list, _ := s.ListUser(ctx, "bob")
	fmt.Println("bob's sessions:", len(list))

	// Log out everywhere else: keep the laptop.
	n, _ := s.DeleteUser(ctx, "bob", laptop.Key)
	fmt.Println("revoked:", n)
	_, err = s.Get(ctx, phone.Key)
	fmt.Println("phone:", err)
	// Output:
	// save v2: <nil>
	// stale save conflicts: true
	// bob's sessions: 2
	// revoked: 1
	// phone: dbstore: get: store: not found
}

// A mysql:// URL runs the store on MySQL or MariaDB: Open makes it a
// go-sql-driver/mysql DSN (import _ "github.com/go-sql-driver/mysql";
// package storage links it), creates the tables and starts the sweeper.
// It needs a server, so this example has no output to check.
func ExampleOpen_mysql() {
	ctx := context.Background()
	s, err := dbstore.Open(ctx, os.Getenv("DATABASE_URL"), dbstore.Options{}) // mysql://user:pass@127.0.0.1:3306/db
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	e := newEntry("alice")
	if err := s.Put(ctx, e, 0); err != nil {
		fmt.Println(err)
	}
}

// OpenDB opens the same database for other tables, such as an audit
// trail, with Open's driver and connection settings.
func ExampleOpenDB() {
	db, err := dbstore.OpenDB("mysql://app:secret@127.0.0.1:3306/appdb?tls=true")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	fmt.Println(db.Driver() != nil)
	_, err = dbstore.OpenDB("mysql://app:secret@127.0.0.1:3306/appdb?multiStatements=true")
	fmt.Println(errors.Is(err, store.ErrInvalid))
	// Output:
	// true
	// true
}
