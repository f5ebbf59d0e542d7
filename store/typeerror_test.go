package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// A value read into a target of another kind names both kinds, and still
// wraps ErrDecode; kinds the decoder converts are not mismatches.
func TestDecodeTypeError(t *testing.T) {
	for _, tc := range []struct {
		stored any
		into   func() any
		want   string // "" : no error
	}{
		{5, func() any { return new(string) }, "it is an integer, not a string"},
		{"s", func() any { return new(int) }, "it is a string, not an integer"},
		{true, func() any { return new(string) }, "it is a boolean, not a string"},
		{1.5, func() any { return new(int) }, "it is a float, not an integer"},
		{[]int{1}, func() any { return new(map[string]int) }, "it is a list, not a map"},
		{map[string]int{"a": 1}, func() any { return new([]int) }, "it is a map, not a list"},
		{time.Now(), func() any { return new(int) }, "it is a time, not an integer"},
		{"s", func() any { return new(time.Time) }, "it is a string, not a time"},
		{5, func() any { return new(float64) }, ""},
		{"s", func() any { return new([]byte) }, ""},
		{5, func() any { return new(any) }, ""},
	} {
		raw, err := store.EncodeValue(tc.stored, store.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		err = store.DecodeValue(raw, tc.into(), store.Limits{})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%T into %T: %v", tc.stored, tc.into(), err)
			}
			continue
		}
		var te *store.TypeError
		if !errors.As(err, &te) || !errors.Is(err, store.ErrDecode) || err.Error() != "store: cannot decode value: "+tc.want {
			t.Errorf("%T into %T: %v, want %q wrapping ErrDecode", tc.stored, tc.into(), err, tc.want)
		}
	}
}
