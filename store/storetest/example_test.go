package storetest_test

import (
	"fmt"
	"testing"

	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// newIsolatedStore stands for a store of yours with its own prefix, schema
// or table per test.
func newIsolatedStore(t *testing.T) store.Store { t.Skip("stands for your store"); return nil }

// A store proves itself with one call from its own tests; each case runs
// as a named subtest.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T) in your _test.go file
		storetest.Run(t, newIsolatedStore, storetest.Options{})
	}
}

// The cases are named for the rule each proves, and each says what it
// checks.
func ExampleCases() {
	cases := storetest.Cases()
	for _, c := range cases[:3] {
		fmt.Printf("%s: %s\n", c.Name, c.Doc)
	}
	fmt.Println(len(cases) > 30)
	// Output:
	// get_missing: Get of a key never stored is ErrNotFound
	// put_create_roundtrip: a created entry reads back with every field equal, times at ms precision
	// put_normalizes_times: times with nanoseconds and a non-UTC zone read back truncated to ms
	// true
}
