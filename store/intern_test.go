package store

import (
	"strconv"
	"testing"
)

// A name seen before costs no allocation; the table stops growing at its
// bound, and names past it still decode right.
func TestIntern(t *testing.T) {
	var tab internTable
	if got := tab.intern([]byte("visits")); got != "visits" {
		t.Fatalf("intern = %q", got)
	}
	b := []byte("visits")
	if n := testing.AllocsPerRun(100, func() { _ = tab.intern(b) }); n != 0 {
		t.Errorf("a known name costs %v allocations, want 0", n)
	}
	for i := range 2 * maxInterned {
		k := "k" + strconv.Itoa(i)
		if got := tab.intern([]byte(k)); got != k {
			t.Fatalf("intern(%q) = %q", k, got)
		}
	}
	if n := len(*tab.m.Load()); n != maxInterned {
		t.Errorf("table holds %d names, want its bound %d", n, maxInterned)
	}
	long := make([]byte, maxInternedLen+1)
	for i := range long {
		long[i] = 'x'
	}
	if got := tab.intern(long); got != string(long) {
		t.Errorf("a long name came back as %q", got)
	}
}
