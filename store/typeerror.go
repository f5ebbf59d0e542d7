package store

import (
	"reflect"
	"time"
)

// TypeError is the error of [DecodeValue] when the stored value is of
// another kind than the target: an integer read into a string, say. It
// wraps [ErrDecode]. Stored and Target are phrases such as "an integer",
// "a string", "a boolean", "a float", "bytes", "a list", "a map", "a time",
// "a struct" or "nil".
type TypeError struct {
	Stored, Target string
}

func (e *TypeError) Error() string {
	return "store: cannot decode value: it is " + e.Stored + ", not " + e.Target
}

// Unwrap returns [ErrDecode].
func (e *TypeError) Unwrap() error { return ErrDecode }

// storedKind names the kind of the msgpack value that starts raw ("" if
// unknown).
func storedKind(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c <= 0x7f || c >= 0xe0 || c >= 0xcc && c <= 0xd3:
		return "an integer"
	case c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb:
		return "a string"
	case c >= 0xc4 && c <= 0xc6:
		return "bytes"
	case c == 0xc2 || c == 0xc3:
		return "a boolean"
	case c == 0xca || c == 0xcb:
		return "a float"
	case c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd:
		return "a list"
	case c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf:
		return "a map"
	case c == 0xc0:
		return "nil"
	case c == 0xd6 || c == 0xd7 || c == 0xc7:
		return "a time" // the only extension the codec writes
	}
	return ""
}

// compatible reports whether the decoder converts between the two kinds,
// so a failure between them is not a type mismatch.
func compatible(stored, target string) bool {
	switch {
	case stored == target, stored == "nil":
		return true
	case stored == "a map" && target == "a struct",
		stored == "a string" && target == "bytes", stored == "bytes" && target == "a string",
		stored == "an integer" && target == "a float":
		return true
	}
	return false
}

// targetKind names the kind a Go type decodes ("" for any: interfaces,
// pointers and types with their own decoding).
func targetKind(t reflect.Type) string {
	if t == reflect.TypeOf(time.Time{}) {
		return "a time"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a float"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "a list"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		return "a struct"
	}
	return ""
}
