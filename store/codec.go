package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec errors. Every error of the codec wraps exactly one of ErrEncode or
// ErrDecode, and a breach of a [Limits] bound also wraps ErrLimit (and
// [ErrTooLarge] when the bound is MaxSize), so callers can ask the question
// they care about:
//
//	errors.Is(err, ErrDecode)   // bad bytes, whatever the reason
//	errors.Is(err, ErrLimit)    // a bound was hit
//	errors.Is(err, ErrTooLarge) // the size bound was hit
var (
	// ErrEncode: a value could not be encoded (an unsupported type such as
	// a channel or a func, or a limit breach).
	ErrEncode = errors.New("store: cannot encode value")
	// ErrDecode: bytes are not a well-formed value of the codec, or do not
	// fit the target type.
	ErrDecode = errors.New("store: cannot decode value")
	// ErrLimit: a value breaks one of the [Limits] bounds.
	ErrLimit = errors.New("store: codec limit exceeded")
)

// Default limits, used for zero fields of [Limits].
const (
	// DefaultMaxSize is the default [Limits.MaxSize]: 64 KiB.
	DefaultMaxSize = 64 << 10
	// DefaultMaxDepth is the default [Limits.MaxDepth].
	DefaultMaxDepth = 32
	// DefaultMaxLen is the default [Limits.MaxLen].
	DefaultMaxLen = 65536
	// maxDepthCap bounds MaxDepth so the validator's stack stays a fixed
	// array on the goroutine stack.
	maxDepthCap = 256
)

// Limits bounds what the codec accepts. Zero fields take the defaults. The
// same bounds apply when encoding and decoding, so whatever encodes under a
// given Limits also decodes under it.
type Limits struct {
	// MaxSize is the largest encoded record (all values of a session) or
	// value, in bytes. Default [DefaultMaxSize] (64 KiB).
	MaxSize int
	// MaxDepth is the deepest nesting of arrays and maps in any one value:
	// a scalar has depth 0, []int{1} depth 1. Default [DefaultMaxDepth]
	// (32); values above 256 are treated as 256.
	MaxDepth int
	// MaxLen is the most elements of any array or map, and the most bytes
	// of any string or binary. Default [DefaultMaxLen] (65536).
	MaxLen int
}

// withDefaults fills zero (or negative) fields.
func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDepth > maxDepthCap {
		l.MaxDepth = maxDepthCap
	}
	if l.MaxLen <= 0 {
		l.MaxLen = DefaultMaxLen
	}
	return l
}

// encState is a pooled encoder and its buffer. It holds no secrets: only
// scratch space, reset before reuse.
type encState struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	s := new(encState)
	s.enc = msgpack.NewEncoder(&s.buf)
	s.enc.UseCompactInts(true)
	s.enc.UseCompactFloats(true)
	s.enc.SetSortMapKeys(true)
	return s
}}

// decState is a pooled decoder and its reader. It holds no data between
// uses.
type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	s := new(decState)
	s.dec = msgpack.NewDecoder(nil)
	return s
}}

// maxPooledBuf keeps one oversized encode from pinning its buffer.
const maxPooledBuf = 64 << 10

// EncodeValue encodes v as msgpack and checks the result against lim.
//
// Integers take their most compact form, and floats with an integral value
// are written as integers. time.Time is written as the standard msgpack
// timestamp extension (nanosecond precision; the location is not kept).
// Structs honour `msgpack:"name,omitempty"` tags. Maps of type
// map[string]any, map[string]string and map[string]bool are written in key
// order, so equal values of those encode to equal bytes; other map types are
// written in Go's map order (decoding is unaffected).
//
// The produced bytes pass the same validator that [DecodeValue] applies, so
// whatever EncodeValue returns, DecodeValue accepts under the same Limits.
// An unsupported type is an error wrapping [ErrEncode]; a limit breach also
// wraps [ErrLimit].
func EncodeValue(v any, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	s := encPool.Get().(*encState)
	s.buf.Reset()
	err := s.enc.Encode(v)
	var out []byte
	if err == nil {
		out = bytes.Clone(s.buf.Bytes())
	}
	if s.buf.Cap() <= maxPooledBuf {
		encPool.Put(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if _, err := validate(out, lim.MaxDepth, lim); err != nil {
		return nil, encodeErr(err)
	}
	return out, nil
}

// DecodeValue decodes raw msgpack into v, which must be a non-nil pointer.
// raw is validated against lim first (see [Limits]): nothing reaches the
// msgpack decoder before its structure, lengths and depth are known to be
// sound, so hostile bytes cost at most a walk over them.
//
// Decoding into an interface (any, map[string]any, []any) yields int64 or
// uint64 for integers, float64 for floats, string for strings and binary,
// time.Time for timestamps; integral floats come back as integers, since
// [EncodeValue] writes them so. Typed targets get exactly their type.
// Decoded times are in UTC.
//
// Any failure is an error wrapping [ErrDecode] (and [ErrLimit] for a limit
// breach); a value of another kind than the target (an integer read into a
// string) is a [*TypeError] that names both.
func DecodeValue(raw []byte, v any, lim Limits) (err error) {
	lim = lim.withDefaults()
	found, err := validate(raw, lim.MaxDepth, lim)
	if err != nil {
		return decodeErr(err)
	}
	if found&foundRiskyTime != 0 {
		// Asked for a map where a timestamp is, the msgpack decoder skips
		// the extension header and reads the timestamp's first data byte
		// as a map header: 0xde or 0xdf there would declare up to 2^32
		// entries that no validator saw. Rewriting every timestamp in its
		// 12-byte form, whose first byte is always below 0x3c, keeps each
		// instant and turns that case into a plain type error.
		_, _, raw, err = scanOne(raw, lim.MaxDepth, lim, make([]byte, 0, len(raw)+len(raw)/2+8))
		if err != nil {
			return decodeErr(err)
		}
	}
	return decodeInto(raw, v, found&foundTime != 0, lim.MaxDepth)
}

// decodeInto runs the msgpack decoder over validated bytes.
func decodeInto(raw []byte, v any, hasTime bool, maxDepth int) (err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: target must be a non-nil pointer, not %T", ErrDecode, v)
	}
	defer func() {
		// Validated bytes should never make the decoder panic, but a
		// panic here would be a remote crash, so it becomes an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder failure: %v", ErrDecode, r)
		}
	}()
	st := decPool.Get().(*decState)
	st.r.Reset(raw)
	st.dec.Reset(&st.r) // clears every option
	st.dec.UseLooseInterfaceDecoding(true)
	derr := st.dec.Decode(v)
	st.r.Reset(nil)
	st.dec.Reset(nil)
	decPool.Put(st)
	if derr != nil {
		if stored, target := storedKind(raw), targetKind(rv.Type().Elem()); stored != "" && target != "" && !compatible(stored, target) {
			return &TypeError{Stored: stored, Target: target}
		}
		return fmt.Errorf("%w: %w", ErrDecode, derr)
	}
	if hasTime {
		timesToUTC(rv.Elem(), maxDepth+2)
	}
	return nil
}

// EncodeRecord encodes a session's values: a msgpack map from each key to
// its raw value. Raw values (from [EncodeValue]) are embedded as they are,
// not wrapped as binary, so a record is a plain msgpack map that any
// msgpack tool can read. Keys are sorted, so equal maps encode to equal
// bytes. Each raw value is validated; the record as a whole must fit
// lim.MaxSize (a breach wraps [ErrLimit] and [ErrTooLarge]).
func EncodeRecord(values map[string][]byte, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	if len(values) > lim.MaxLen {
		return nil, fmt.Errorf("%w: %w: record has %d values, limit %d", ErrEncode, ErrLimit, len(values), lim.MaxLen)
	}
	keys := make([]string, 0, len(values))
	size := 5
	for k, raw := range values {
		if len(k) > lim.MaxLen {
			return nil, fmt.Errorf("%w: %w: key of %d bytes, limit %d", ErrEncode, ErrLimit, len(k), lim.MaxLen)
		}
		if _, err := validate(raw, lim.MaxDepth, lim); err != nil {
			return nil, fmt.Errorf("value %q: %w", k, encodeErr(err))
		}
		keys = append(keys, k)
		size += 5 + len(k) + len(raw)
	}
	slices.Sort(keys)
	out := make([]byte, 0, min(size, lim.MaxSize+1))
	out = appendMapHeader(out, len(keys))
	for _, k := range keys {
		out = appendStrHeader(out, len(k))
		out = append(out, k...)
		out = append(out, values[k]...)
		if len(out) > lim.MaxSize {
			return nil, fmt.Errorf("%w: %w: %w: record over %d bytes", ErrEncode, ErrLimit, ErrTooLarge, lim.MaxSize)
		}
	}
	return out, nil
}

// DecodeRecord validates a record made by [EncodeRecord] and splits it into
// its raw values, each ready for [DecodeValue]. The values are subslices of
// b (capacity-limited, so appending to one never overwrites another): keep
// b unchanged while they are in use. The record's map counts as one level
// of nesting on top of lim.MaxDepth. Keys must be strings and unique.
// Failures wrap [ErrDecode] (and [ErrLimit] for a limit breach).
func DecodeRecord(b []byte, lim Limits) (map[string][]byte, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxSize {
		return nil, decodeErr(sizeErr(len(b), lim.MaxSize))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrDecode)
	}
	n, pos, ok := mapHeader(b)
	if !ok {
		return nil, fmt.Errorf("%w: record is not a map", ErrDecode)
	}
	if n > lim.MaxLen {
		return nil, decodeErr(fmt.Errorf("%w: record has %d values, limit %d", ErrLimit, n, lim.MaxLen))
	}
	if n*2 > len(b)-pos {
		return nil, fmt.Errorf("%w: record declares %d values in %d bytes", ErrDecode, n, len(b)-pos)
	}
	out := make(map[string][]byte, n)
	for i := 0; i < n; i++ {
		klen, kpos, ok := strHeader(b[pos:])
		if !ok {
			return nil, fmt.Errorf("%w: record key %d is not a string", ErrDecode, i)
		}
		if klen > lim.MaxLen {
			return nil, decodeErr(fmt.Errorf("%w: key of %d bytes, limit %d", ErrLimit, klen, lim.MaxLen))
		}
		pos += kpos
		if klen > len(b)-pos {
			return nil, fmt.Errorf("%w: truncated record key", ErrDecode)
		}
		key := recordKeys.intern(b[pos : pos+klen])
		pos += klen
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: duplicate record key %q", ErrDecode, key)
		}
		vlen, _, _, err := scanOne(b[pos:], lim.MaxDepth, lim, nil)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", key, decodeErr(err))
		}
		out[key] = b[pos : pos+vlen : pos+vlen]
		pos += vlen
	}
	if pos != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes after record", ErrDecode, len(b)-pos)
	}
	return out, nil
}

// errMalformed marks structural errors of the validator; decodeErr and
// encodeErr wrap them in the public sentinels.
var errMalformed = errors.New("malformed msgpack")

func decodeErr(err error) error { return fmt.Errorf("%w: %w", ErrDecode, err) }
func encodeErr(err error) error { return fmt.Errorf("%w: %w", ErrEncode, err) }

func sizeErr(n, limit int) error {
	return fmt.Errorf("%w: %w: %d bytes, limit %d", ErrLimit, ErrTooLarge, n, limit)
}

var timeType = reflect.TypeFor[time.Time]()

// timesToUTC sets the location of every time.Time reachable from v to UTC
// (the msgpack decoder returns local times). Called only when the bytes
// held a timestamp; depth-bounded like the data it came from.
func timesToUTC(v reflect.Value, depth int) {
	if depth < 0 || !v.IsValid() {
		return
	}
	if v.Type() == timeType {
		if v.CanSet() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			timesToUTC(v.Elem(), depth-1)
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if e.Type() == timeType && v.CanSet() {
			v.Set(reflect.ValueOf(e.Interface().(time.Time).UTC()))
			return
		}
		if k := e.Kind(); k == reflect.Map || k == reflect.Slice || k == reflect.Pointer {
			timesToUTC(e, depth-1) // shares storage with v
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				timesToUTC(v.Field(i), depth-1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			timesToUTC(v.Index(i), depth-1)
		}
	case reflect.Map:
		et := v.Type().Elem()
		if et != timeType && et.Kind() != reflect.Interface && et.Kind() != reflect.Struct &&
			et.Kind() != reflect.Map && et.Kind() != reflect.Slice && et.Kind() != reflect.Array && et.Kind() != reflect.Pointer {
			return
		}
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(et).Elem()
			e.Set(it.Value())
			timesToUTC(e, depth-1)
			v.SetMapIndex(it.Key(), e)
		}
	}
}
