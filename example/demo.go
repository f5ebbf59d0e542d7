package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strconv"

	"github.com/vedfolnir/sessions/platform"
)

// demoUser is a built-in account. The password of each demo user is its
// username.
type demoUser struct {
	ID        int64
	Username  string
	Role      string
	password  [32]byte // SHA-256 of the password: compared in constant time
	Platforms []platform.Context
}

// demoUsers are the accounts the example ships with (example/README.md
// lists them).
var demoUsers = []*demoUser{
	newDemoUser(1, "alice", "admin",
		platform.Context{ConnectionID: 1, Name: "mastodon-main", Type: "mastodon"},
		platform.Context{ConnectionID: 2, Name: "pixelfed-photos", Type: "pixelfed"}),
	newDemoUser(2, "bob", "user",
		platform.Context{ConnectionID: 3, Name: "bob-mastodon", Type: "mastodon"}),
}

func newDemoUser(id int64, name, role string, pcs ...platform.Context) *demoUser {
	return &demoUser{ID: id, Username: name, Role: role, password: sha256.Sum256([]byte(name)), Platforms: pcs}
}

// dummyPassword is compared against when the username is unknown, so a
// login attempt takes the same time whether or not the user exists.
var dummyPassword = sha256.Sum256([]byte("no such user: the comparison still runs"))

// authenticate returns the user whose username and password match. Both
// are compared in constant time over fixed-length digests: the time taken
// says nothing about the password or about which usernames exist.
func authenticate(username, password string) (*demoUser, bool) {
	got := sha256.Sum256([]byte(password))
	var found *demoUser
	for _, u := range demoUsers {
		if subtle.ConstantTimeCompare([]byte(u.Username), []byte(username)) == 1 {
			found = u
		}
	}
	want := dummyPassword
	if found != nil {
		want = found.password
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || found == nil {
		return nil, false
	}
	return found, true
}

// userByID returns the demo user with the decimal id s.
func userByID(s string) (*demoUser, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, false
	}
	for _, u := range demoUsers {
		if u.ID == id {
			return u, true
		}
	}
	return nil, false
}

// loadPlatform is the platform.Loader of the demo data: connection id of
// user userID, or platform.ErrNotFound.
func loadPlatform(_ context.Context, userID string, id int64) (*platform.Context, error) {
	u, ok := userByID(userID)
	if !ok {
		return nil, platform.ErrNotFound
	}
	for _, pc := range u.Platforms {
		if pc.ConnectionID == id {
			cp := pc
			return &cp, nil
		}
	}
	return nil, platform.ErrNotFound
}

func strconvID(id int64) string { return strconv.FormatInt(id, 10) }
