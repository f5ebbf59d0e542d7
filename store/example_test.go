package store_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/vedfolnir/sessions/store"
)

func ExampleNewKeyring() {
	// In production: store.ParseKeyring(os.Getenv(store.EnvKeys)).
	oldKey := make([]byte, 32)
	newKey := make([]byte, 32)
	newKey[0] = 1

	storeKey := store.NewToken().Key()
	sealed, _ := mustRing(oldKey).Seal(storeKey, 's', []byte("session values"))

	// Rotation: the new key seals, the old one still opens.
	ring, err := store.NewKeyring(newKey, oldKey)
	if err != nil {
		panic(err)
	}
	plaintext, stale, err := ring.Open(storeKey, 's', sealed)
	fmt.Printf("%s stale=%v err=%v\n", plaintext, stale, err)

	// Re-seal under the active key.
	sealed, _ = ring.Seal(storeKey, 's', plaintext)
	_, stale, _ = ring.Open(storeKey, 's', sealed)
	fmt.Println("after re-seal stale =", stale)

	// An envelope moved to another session does not open.
	_, _, err = ring.Open(store.NewToken().Key(), 's', sealed)
	fmt.Println(errors.Is(err, store.ErrOpen))

	// Keys never show up in logs or prints.
	fmt.Printf("%v\n", ring.LogValue())
	// Output:
	// session values stale=true err=<nil>
	// after re-seal stale = false
	// true
	// [keys=2 active=e851de80]
}

func mustRing(keys ...[]byte) *store.Keyring {
	r, err := store.NewKeyring(keys...)
	if err != nil {
		panic(err)
	}
	return r
}

func ExampleEncodeValue() {
	type user struct {
		ID    int       `msgpack:"id"`
		Name  string    `msgpack:"name"`
		Since time.Time `msgpack:"since"`
	}
	in := user{ID: 1, Name: "alice", Since: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}

	raw, err := store.EncodeValue(in, store.Limits{})
	if err != nil {
		panic(err)
	}
	var out user
	if err := store.DecodeValue(raw, &out, store.Limits{}); err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes: %+v\n", len(raw), out)

	// Values travel in a record, one raw value per key.
	rec, _ := store.EncodeRecord(map[string][]byte{"user": raw}, store.Limits{})
	values, _ := store.DecodeRecord(rec, store.Limits{})
	var name struct {
		Name string `msgpack:"name"`
	}
	_ = store.DecodeValue(values["user"], &name, store.Limits{})
	fmt.Println(name.Name)

	// Hostile bytes are an error, never a panic or a huge allocation.
	err = store.DecodeValue([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, &out, store.Limits{})
	fmt.Println(errors.Is(err, store.ErrDecode), errors.Is(err, store.ErrLimit))
	// Output:
	// 28 bytes: {ID:1 Name:alice Since:2025-01-02 03:04:05 +0000 UTC}
	// alice
	// true true
}

func ExampleNewToken() {
	tok := store.NewToken() // for the cookie: tok.String()

	parsed, err := store.ParseToken(tok.String())
	fmt.Println(parsed == tok, err)

	// Anything but the exact canonical form is refused.
	_, err = store.ParseToken(tok.String() + "=")
	fmt.Println(err)

	// The store sees only the key; logs and lists see only the handle.
	key := tok.Key()
	fmt.Println(len(key), store.ValidKey(key), len(store.Handle(key)))
	// Output:
	// true <nil>
	// store: malformed token
	// 43 true 22
}
