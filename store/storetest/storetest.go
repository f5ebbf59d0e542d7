// Package storetest is the conformance suite for [store.Store]
// implementations. Every store in this module, and any store written
// outside it, proves itself with one call from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return newIsolatedStore(t) // own prefix, schema or table
//		}, storetest.Options{})
//	}
//
// Each case is a named subtest with a one-line explanation, so a failure
// names the rule that was broken (for example
// "TestConformance/put_update_deleted_not_recreated"). Cases for optional
// capabilities ([store.GetToucher], [store.Copier], [store.Pinger]) are
// skipped when the store lacks them; [store.UserIndex] is required.
//
// The suite uses the wall clock: expiry cases store entries with deadlines
// a few hundred milliseconds ahead and sleep past them, so a store must
// judge expiry by time.Now (or a clock that follows it).
package storetest

import (
	"testing"

	"github.com/vedfolnir/sessions/store"
)

// Options tunes the suite to a store. The zero value is fine.
type Options struct {
	// MaxPayload is the largest Payload the store accepts; one byte more
	// must fail with [store.ErrTooLarge]. 0 means [store.DefaultMaxPayload].
	MaxPayload int
}

func (o Options) withDefaults() Options {
	if o.MaxPayload <= 0 {
		o.MaxPayload = store.DefaultMaxPayload
	}
	return o
}

// testCase is one rule of the contract.
type testCase struct {
	name string
	doc  string
	fn   func(t testing.TB, s store.Store, o Options)
}

// Run runs every case of the suite as a subtest of t. newStore must return
// a fresh, empty store for each case, isolated from every other case (its
// own key prefix, schema or table), and register its own cleanup with
// t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts Options) {
	t.Helper()
	opts = opts.withDefaults()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Log(c.doc)
			runCase(t, c, newStore(t), opts)
		})
	}
}

// runCase runs one case against s. It takes a testing.TB so the suite's
// own tests can run a case against a broken store with a recorder and
// check that the case fails.
func runCase(t testing.TB, c testCase, s store.Store, o Options) {
	t.Helper()
	if s == nil {
		t.Fatalf("newStore returned nil")
	}
	c.fn(t, s, o)
}

// Cases returns the names and one-line explanations of every case Run
// runs, in order. Useful for documentation and for -run patterns.
func Cases() []CaseInfo {
	out := make([]CaseInfo, len(cases))
	for i, c := range cases {
		out[i] = CaseInfo{Name: c.name, Doc: c.doc}
	}
	return out
}

// CaseInfo names one case of the suite.
type CaseInfo struct {
	// Name is the subtest name.
	Name string
	// Doc is the rule the case checks, in one line.
	Doc string
}
