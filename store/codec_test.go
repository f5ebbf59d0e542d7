package store

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// roundTrip encodes v, decodes it into a fresh T and returns the result.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	raw, err := EncodeValue(v, Limits{})
	if err != nil {
		t.Fatalf("EncodeValue(%#v): %v", v, err)
	}
	var got T
	if err := DecodeValue(raw, &got, Limits{}); err != nil {
		t.Fatalf("DecodeValue(%x): %v", raw, err)
	}
	return got
}

// same runs a round trip and requires a deeply equal result.
func same[T any](v T) func(*testing.T) {
	return func(t *testing.T) {
		if got := roundTrip(t, v); !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip: got %#v, want %#v", got, v)
		}
	}
}

type tagged struct {
	ID      int            `msgpack:"id"`
	Name    string         `msgpack:"name"`
	Skip    string         `msgpack:"-"`
	Empty   string         `msgpack:"empty,omitempty"`
	When    time.Time      `msgpack:"when"`
	Tags    []string       `msgpack:"tags"`
	Extra   map[string]any `msgpack:"extra"`
	Inner   *tagged        `msgpack:"inner,omitempty"`
	Score   float64        `msgpack:"score"`
	Enabled bool           `msgpack:"enabled"`
}

func TestCodecRoundTrip(t *testing.T) {
	when := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	cases := []struct {
		name string
		run  func(*testing.T)
	}{
		{"int zero", same(0)},
		{"int small", same(1)},
		{"int negative", same(-33)},
		{"int64 max", same(int64(math.MaxInt64))},
		{"int64 min", same(int64(math.MinInt64))},
		{"uint64 max", same(uint64(math.MaxUint64))},
		{"int8", same(int8(-128))},
		{"string empty", same("")},
		{"string ascii", same("alice")},
		{"string unicode", same("zürich ✓ 東京")},
		{"string long", same(strings.Repeat("x", 70000/2))},
		{"float64 fraction", same(3.25)},
		{"float64 integral", same(42.0)},
		{"float64 tiny", same(math.SmallestNonzeroFloat64)},
		{"float64 inf", same(math.Inf(-1))},
		{"float32", same(float32(1.5))},
		{"bool true", same(true)},
		{"bool false", same(false)},
		{"bytes", same([]byte{0, 1, 2, 0xff})},
		{"string slice", same([]string{"a", "", "ccc"})},
		{"string slice empty", same([]string{})},
		{"int slice", same([]int{1, -1, 1000, 1 << 40})},
		{"map string int", same(map[string]int{"a": 1, "b": 2})},
		{"time utc ns", same(when)},
		{"time epoch", same(time.Unix(0, 0).UTC())},
		{"time before 1970", same(time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC))},
		{"time far future", same(time.Date(3000, 1, 1, 0, 0, 0, 999999999, time.UTC))},
		{"time seconds only", same(time.Unix(1700000000, 0).UTC())},
		{"struct tags", same(tagged{
			ID: 7, Name: "bob", When: when, Tags: []string{"x"},
			Extra: map[string]any{"k": "v"}, Score: 0.5, Enabled: true,
		})},
		{"struct nested", same(tagged{ID: 1, Inner: &tagged{ID: 2, Inner: &tagged{ID: 3, When: when}}, When: when})},
		{"nil any", func(t *testing.T) {
			if got := roundTrip[any](t, nil); got != nil {
				t.Fatalf("got %#v, want nil", got)
			}
		}},
		{"nil slice", func(t *testing.T) {
			if got := roundTrip[[]string](t, nil); got != nil {
				t.Fatalf("got %#v, want nil", got)
			}
		}},
		{"nil pointer", func(t *testing.T) {
			if got := roundTrip[*tagged](t, nil); got != nil {
				t.Fatalf("got %#v, want nil", got)
			}
		}},
		{"map string any", func(t *testing.T) {
			in := map[string]any{
				"int": 1, "neg": -5, "big": 1 << 40, "str": "s", "f": 2.5, "fint": 3.0,
				"b": true, "nil": nil, "list": []any{"a", 1}, "when": when,
				"nested": map[string]any{"deep": []any{map[string]any{"x": "y"}}},
			}
			want := map[string]any{
				"int": int64(1), "neg": int64(-5), "big": uint64(1 << 40), "str": "s", "f": 2.5, "fint": int64(3),
				"b": true, "nil": nil, "list": []any{"a", int64(1)}, "when": when,
				"nested": map[string]any{"deep": []any{map[string]any{"x": "y"}}},
			}
			if got := roundTrip(t, in); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
		}},
		{"time in other zone decodes as same instant in UTC", func(t *testing.T) {
			in := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 5*3600+1800))
			got := roundTrip(t, in)
			if !got.Equal(in) || got.Location() != time.UTC {
				t.Fatalf("got %v (%v), want %v in UTC", got, got.Location(), in)
			}
		}},
		{"times inside any are UTC", func(t *testing.T) {
			got := roundTrip[any](t, map[string]any{"t": []any{when}})
			tm := got.(map[string]any)["t"].([]any)[0].(time.Time)
			if !tm.Equal(when) || tm.Location() != time.UTC {
				t.Fatalf("got %v (%v)", tm, tm.Location())
			}
		}},
		{"typed decode of other numeric width", func(t *testing.T) {
			raw, err := EncodeValue(300, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var u uint16
			if err := DecodeValue(raw, &u, Limits{}); err != nil || u != 300 {
				t.Fatalf("got %d, %v", u, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

func TestEncodeValueCompact(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{int64(1), "\x01"},
		{uint64(5), "\x05"},
		{-1, "\xff"},
		{2.0, "\x02"},
		{"a", "\xa1a"},
		{nil, "\xc0"},
		{map[string]any{"b": 2, "a": 1}, "\x82\xa1a\x01\xa1b\x02"},
		{map[string]string{"b": "", "a": ""}, "\x82\xa1a\xa0\xa1b\xa0"},
		{time.Unix(1, 0), "\xd6\xff\x00\x00\x00\x01"},
	} {
		got, err := EncodeValue(tc.v, Limits{})
		if err != nil || string(got) != tc.want {
			t.Errorf("EncodeValue(%#v) = %x, %v; want %x", tc.v, got, err, tc.want)
		}
	}
}

func TestEncodeValueErrors(t *testing.T) {
	deep := any("leaf")
	for range 40 {
		deep = []any{deep}
	}
	for _, tc := range []struct {
		name  string
		v     any
		lim   Limits
		limit bool
		large bool
	}{
		{"channel", make(chan int), Limits{}, false, false},
		{"func", func() {}, Limits{}, false, false},
		{"too deep", deep, Limits{}, true, false},
		{"string too long", strings.Repeat("a", 11), Limits{MaxLen: 10}, true, false},
		{"array too long", make([]int, 11), Limits{MaxLen: 10}, true, false},
		{"too large", strings.Repeat("a", 100), Limits{MaxSize: 50}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeValue(tc.v, tc.lim)
			if !errors.Is(err, ErrEncode) {
				t.Fatalf("err = %v, want ErrEncode", err)
			}
			if errors.Is(err, ErrLimit) != tc.limit || errors.Is(err, ErrTooLarge) != tc.large {
				t.Fatalf("err = %v: ErrLimit %v (want %v), ErrTooLarge %v (want %v)", err,
					errors.Is(err, ErrLimit), tc.limit, errors.Is(err, ErrTooLarge), tc.large)
			}
		})
	}
}

func TestDecodeValueTarget(t *testing.T) {
	raw, _ := EncodeValue("x", Limits{})
	var n int
	for name, target := range map[string]any{"nil": nil, "non-pointer": 1, "nil pointer": (*int)(nil), "wrong type": &n} {
		if err := DecodeValue(raw, target, Limits{}); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want ErrDecode", name, err)
		}
	}
}

// hostile inputs; limit says whether the error must also wrap ErrLimit.
var hostile = []struct {
	name  string
	in    string
	limit bool
}{
	{"empty", "", false},
	{"invalid byte c1", "\xc1", false},
	{"invalid byte c1 in array", "\x92\x01\xc1", false},
	{"array32 max", "\xdd\xff\xff\xff\xff", true},
	{"map32 max", "\xdf\xff\xff\xff\xff", true},
	{"str32 max", "\xdb\xff\xff\xff\xff", true},
	{"bin32 max", "\xc6\xff\xff\xff\xff", true},
	{"ext32 max", "\xc9\xff\xff\xff\xff\xff", false},
	{"array16 more than bytes", "\xdc\x00\x10\x01\x02", false},
	{"map16 more than bytes", "\xde\x00\x02\xa1a\x01", false},
	{"str8 more than bytes", "\xd9\x05abc", false},
	{"fixstr truncated", "\xa5ab", false},
	{"array header truncated", "\xdd\x00\x00", false},
	{"uint64 truncated", "\xcf\x00\x00", false},
	{"float64 truncated", "\xcb\x3f\xf0", false},
	{"fixext1 type 5", "\xd4\x05\x00", false},
	{"fixext16 type 5", "\xd8\x05" + strings.Repeat("\x00", 16), false},
	{"ext8 type 5", "\xc7\x01\x05\x00", false},
	{"ext8 type 13 (other time)", "\xc7\x0c\x0d" + strings.Repeat("\x00", 12), false},
	{"timestamp fixext1", "\xd4\xff\x00", false},
	{"timestamp fixext16", "\xd8\xff" + strings.Repeat("\x00", 16), false},
	{"timestamp ext8 size 5", "\xc7\x05\xff\x00\x00\x00\x00\x00", false},
	{"timestamp ext8 size 0", "\xc7\x00\xff", false},
	{"timestamp truncated", "\xd7\xff\x00\x00", false},
	{"timestamp64 nanos out of range", "\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x00", false},
	{"timestamp96 nanos out of range", "\xc7\x0c\xff\x3b\x9a\xca\x00" + strings.Repeat("\x00", 8), false},
	{"ext header without type", "\xc7\x04", false},
	{"trailing byte", "\x01\xc0", false},
	{"trailing after map", "\x81\xa1a\x01\x00", false},
	{"map with array key", "\x81\x90\xc0", false},
	{"map with map key", "\x81\x80\xc0", false},
	{"map with binary key", "\x81\xc4\x00\xc0", false},
	{"map missing value", "\x81\xa1a", false},
	{"deep nesting 1e6", strings.Repeat("\x91", 1_000_000) + "\xc0", true},
	{"deep maps", strings.Repeat("\x81\xa1k", 100) + "\xc0", true},
}

func TestDecodeHostile(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrDecode) {
					t.Fatalf("%s: err = %v, want ErrDecode", what, err)
				}
				if tc.limit && !errors.Is(err, ErrLimit) {
					t.Fatalf("%s: err = %v, want ErrLimit", what, err)
				}
			}
			var a any
			check("DecodeValue any", DecodeValue([]byte(tc.in), &a, Limits{}))
			var m map[string]any
			check("DecodeValue map", DecodeValue([]byte(tc.in), &m, Limits{}))
			var s tagged
			check("DecodeValue struct", DecodeValue([]byte(tc.in), &s, Limits{}))
			// Inside a record, as the value of key "v".
			rec := append([]byte("\x81\xa1v"), tc.in...)
			_, err := DecodeRecord(rec, Limits{})
			if tc.in != "" && !strings.HasPrefix(tc.name, "trailing") {
				check("DecodeRecord", err)
			}
		})
	}
}

// With MaxLen out of the way, huge declared lengths must still be refused
// by the check against the remaining bytes, before any allocation.
func TestDecodeHugeLengthsWithoutMaxLen(t *testing.T) {
	lim := Limits{MaxLen: math.MaxInt}
	for _, in := range []string{"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdb\xff\xff\xff\xff", "\xc6\xff\xff\xff\xff"} {
		var a any
		err := DecodeValue([]byte(in), &a, lim)
		if !errors.Is(err, ErrDecode) || errors.Is(err, ErrLimit) {
			t.Errorf("%x: err = %v, want ErrDecode without ErrLimit", in, err)
		}
	}
}

func TestDecodeTruncations(t *testing.T) {
	raw, err := EncodeValue(tagged{ID: 1, Name: "n", When: time.Now(), Tags: []string{"a", "b"},
		Extra: map[string]any{"x": []any{1, "y", 2.5}}, Inner: &tagged{ID: 2}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(raw) {
		var a any
		if err := DecodeValue(raw[:i], &a, Limits{}); !errors.Is(err, ErrDecode) {
			t.Fatalf("prefix %d: err = %v, want ErrDecode", i, err)
		}
	}
	rec, err := EncodeRecord(map[string][]byte{"a": raw, "b": raw}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(rec) {
		if _, err := DecodeRecord(rec[:i], Limits{}); !errors.Is(err, ErrDecode) {
			t.Fatalf("record prefix %d: err = %v, want ErrDecode", i, err)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	raw, _ := EncodeValue([]any{[]any{[]any{1}}}, Limits{})
	var a any
	if err := DecodeValue(raw, &a, Limits{MaxDepth: 3}); err != nil {
		t.Fatalf("depth 3 under MaxDepth 3: %v", err)
	}
	if err := DecodeValue(raw, &a, Limits{MaxDepth: 2}); !errors.Is(err, ErrLimit) || !errors.Is(err, ErrDecode) {
		t.Fatalf("depth 3 under MaxDepth 2: %v", err)
	}
	big, _ := EncodeValue(strings.Repeat("a", 100), Limits{})
	err := DecodeValue(big, &a, Limits{MaxSize: 50})
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrLimit) || !errors.Is(err, ErrDecode) {
		t.Fatalf("size: %v", err)
	}
	if err := DecodeValue(big, &a, Limits{MaxLen: 99}); !errors.Is(err, ErrLimit) {
		t.Fatalf("string length: %v", err)
	}
}

func TestRecord(t *testing.T) {
	vals := map[string][]byte{}
	for k, v := range map[string]any{"user_id": 1, "username": "alice", "when": time.Unix(5, 0).UTC(), "list": []string{"a"}, "": nil} {
		raw, err := EncodeValue(v, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		vals[k] = raw
	}
	rec, err := EncodeRecord(vals, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := EncodeRecord(vals, Limits{})
		if !bytes.Equal(again, rec) {
			t.Fatal("EncodeRecord is not deterministic")
		}
	}
	// A record is a plain msgpack map: any msgpack reader sees the values.
	var plain map[string]any
	if err := msgpack.Unmarshal(rec, &plain); err != nil || plain["username"] != "alice" {
		t.Fatalf("plain decode: %v, %#v", err, plain)
	}
	got, err := DecodeRecord(rec, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, vals) {
		t.Fatalf("DecodeRecord: got %q, want %q", got, vals)
	}
	// Values are capacity-limited subslices: appending never writes into rec.
	before := bytes.Clone(rec)
	for _, v := range got {
		_ = append(v, 0xff, 0xff, 0xff)
	}
	if !bytes.Equal(before, rec) {
		t.Fatal("appending to a value changed the record")
	}
	var name string
	if err := DecodeValue(got["username"], &name, Limits{}); err != nil || name != "alice" {
		t.Fatalf("value: %q, %v", name, err)
	}

	empty, err := EncodeRecord(nil, Limits{})
	if err != nil || string(empty) != "\x80" {
		t.Fatalf("empty record: %x, %v", empty, err)
	}
	if m, err := DecodeRecord(empty, Limits{}); err != nil || len(m) != 0 {
		t.Fatalf("decode empty: %v, %v", m, err)
	}

	many := map[string][]byte{}
	for i := range 70000 {
		many[strings.Repeat("k", i%50)+string(rune('a'+i%26))+string(rune(0x100+i))] = []byte{0xc0}
	}
	big, err := EncodeRecord(many, Limits{MaxSize: 1 << 24, MaxLen: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := DecodeRecord(big, Limits{MaxSize: 1 << 24, MaxLen: 1 << 20}); err != nil || len(m) != len(many) {
		t.Fatalf("map32 record: %d, %v", len(m), err)
	}
}

func TestRecordErrors(t *testing.T) {
	one := []byte{0x01}
	for _, tc := range []struct {
		name   string
		values map[string][]byte
		lim    Limits
		large  bool
	}{
		{"invalid raw value", map[string][]byte{"a": {0xc1}}, Limits{}, false},
		{"two raw values in one", map[string][]byte{"a": {0x01, 0x02}}, Limits{}, false},
		{"empty raw value", map[string][]byte{"a": {}}, Limits{}, false},
		{"too large", map[string][]byte{"a": bytes.Repeat([]byte{0x91}, 10), "b": one}, Limits{MaxSize: 8}, true},
		{"key too long", map[string][]byte{"abcdef": one}, Limits{MaxLen: 5}, false},
		{"too many values", map[string][]byte{"a": one, "b": one, "c": one}, Limits{MaxLen: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeRecord(tc.values, tc.lim)
			if !errors.Is(err, ErrEncode) || errors.Is(err, ErrTooLarge) != tc.large {
				t.Fatalf("err = %v", err)
			}
		})
	}
	for _, tc := range []struct{ name, in string }{
		{"not a map", "\x91\x01"},
		{"nil", "\xc0"},
		{"int key", "\x81\x01\x01"},
		{"duplicate key", "\x82\xa1a\x01\xa1a\x02"},
		{"truncated key", "\x81\xa5ab"},
		{"missing value", "\x81\xa1a"},
		{"trailing", "\x81\xa1a\x01\x01"},
		{"map32 huge", "\xdf\xff\xff\xff\xff"},
		{"map16 more than bytes", "\xde\x00\x09\xa1a\x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRecord([]byte(tc.in), Limits{}); !errors.Is(err, ErrDecode) {
				t.Fatalf("err = %v, want ErrDecode", err)
			}
		})
	}
	big := append([]byte("\x81\xa1a\xda\x00\x64"), strings.Repeat("x", 100)...)
	if _, err := DecodeRecord(big, Limits{MaxSize: 50}); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrDecode) {
		t.Fatalf("record size: %v", err)
	}
	// The record's own map does not count against MaxDepth.
	raw, _ := EncodeValue([]any{[]any{1}}, Limits{})
	rec, err := EncodeRecord(map[string][]byte{"v": raw}, Limits{MaxDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRecord(rec, Limits{MaxDepth: 2}); err != nil {
		t.Fatalf("depth-2 value in record under MaxDepth 2: %v", err)
	}
}

func TestValidateAllocs(t *testing.T) {
	raw, _ := EncodeValue(tagged{ID: 1, When: time.Now(), Tags: []string{"a"}, Extra: map[string]any{"x": []any{1}}}, Limits{})
	lim := Limits{}.withDefaults()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := validate(raw, lim.MaxDepth, lim); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("validate allocates %v times", n)
	}
}

// A 5-byte header claiming 2^32 elements costs an error message, nothing
// proportional to what it claims.
func TestDecodeBombAllocatesLittle(t *testing.T) {
	for _, bomb := range []string{"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdb\xff\xff\xff\xff", "\xc6\xff\xff\xff\xff"} {
		for _, lim := range []Limits{{}, {MaxLen: math.MaxInt, MaxSize: math.MaxInt}} {
			var a any
			allocs := testing.AllocsPerRun(100, func() { _ = DecodeValue([]byte(bomb), &a, lim) })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 100 {
				_ = DecodeValue([]byte(bomb), &a, lim)
				_, _ = DecodeRecord([]byte(bomb), lim)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / 100
			if allocs > 16 || perRun > 4096 {
				t.Errorf("%x: %v allocs, %d bytes per decode", bomb, allocs, perRun)
			}
		}
	}
}

// Timestamps whose first data byte reads as a map header (found by
// FuzzDecodeRecord: 0xdf declared 2^32 map entries to the msgpack decoder
// when the target was a map) decode as the same instant into times, and as
// a plain error into maps.
func TestDecodeRiskyTimestamps(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want time.Time
	}{
		{"ts32 0xde", "\xd6\xff\xde\x00\x00\x00", time.Unix(0xde000000, 0)},
		{"ts32 0xdf", "\xd6\xff\xdf\xff\xff\xff", time.Unix(0xdfffffff, 0)},
		{"ts32 fixmap", "\xd6\xff\x85\x00\x00\x01", time.Unix(0x85000001, 0)},
		{"ts64 0xdf", "\xd7\xff\xdf\xff\xff\xff\x00\x00\x00\x00", time.Unix(0x300000000, int64(0xdfffffff00000000>>34))},
		{"ts64 0xde", "\xd7\xff\xde\x00\x00\x00\x00\x00\x00\x05", time.Unix(5, int64(0xde00000000000000>>34))},
		{"ts64 nil byte", "\xd7\xff\xc0\x00\x00\x00\x00\x00\x00\x07", time.Unix(7, int64(0xc000000000000000>>34))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tm time.Time
			if err := DecodeValue([]byte(tc.in), &tm, Limits{}); err != nil || !tm.Equal(tc.want) || tm.Location() != time.UTC {
				t.Fatalf("time: %v, %v; want %v", tm, err, tc.want)
			}
			var a any
			if err := DecodeValue([]byte(tc.in), &a, Limits{}); err != nil || !a.(time.Time).Equal(tc.want) {
				t.Fatalf("any: %v, %v", a, err)
			}
			for _, target := range []any{new(map[string]any), new(map[string]string), new(map[string]int), new(map[any]any), new(tagged)} {
				allocs := testing.AllocsPerRun(5, func() { _ = DecodeValue([]byte(tc.in), target, Limits{}) })
				if err := DecodeValue([]byte(tc.in), target, Limits{}); !errors.Is(err, ErrDecode) || allocs > 64 {
					t.Fatalf("%T: err = %v after %v allocs, want ErrDecode", target, err, allocs)
				}
			}
			// Inside a struct and a record.
			in := "\x82\xa4when" + tc.in + "\xa2id\x07"
			var s tagged
			if err := DecodeValue([]byte(in), &s, Limits{}); err != nil || !s.When.Equal(tc.want) || s.ID != 7 {
				t.Fatalf("struct: %+v, %v", s, err)
			}
		})
	}
	// Times the encoder writes in risky forms round-trip.
	for _, ns := range []int64{0x80 << 22, 0x8f<<22 + 5, 0xde << 22, 0xdf<<22 + 999} {
		when := time.Unix(1700000000, ns).UTC()
		got := roundTrip(t, tagged{When: when, Extra: map[string]any{"t": when}})
		if !got.When.Equal(when) || !got.Extra["t"].(time.Time).Equal(when) {
			t.Fatalf("ns %d: %v", ns, got.When)
		}
	}
}
