package store_test

import (
	"bytes"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

func TestSubKeys(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	ring, err := store.NewKeyring(a, b)
	if err != nil {
		t.Fatal(err)
	}
	x, y := ring.SubKeys("csrf"), ring.SubKeys("other")
	if len(x) != 2 || len(x[0]) != 32 {
		t.Fatalf("got %d keys", len(x))
	}
	if bytes.Equal(x[0], x[1]) || bytes.Equal(x[0], y[0]) || bytes.Equal(x[0], a) {
		t.Fatal("sub-keys must differ per ring key and per purpose, and from the ring key")
	}
	again, _ := store.NewKeyring(b)
	if !bytes.Equal(again.SubKeys("csrf")[0], x[1]) {
		t.Fatal("a sub-key depends on its ring key alone")
	}
}
