package store

import (
	"bytes"
	"encoding/binary"
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
		key := string(b[pos : pos+klen])
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

// scanFound reports what the validator saw.
type scanFound uint8

const (
	// foundTime: the value holds a timestamp.
	foundTime scanFound = 1 << iota
	// foundRiskyTime: a 4- or 8-byte timestamp whose first data byte is
	// a map header or nil (see DecodeValue).
	foundRiskyTime
)

// validate checks that b is exactly one well-formed value within lim and
// maxDepth, and reports what it found.
func validate(b []byte, maxDepth int, lim Limits) (scanFound, error) {
	if len(b) > lim.MaxSize {
		return 0, sizeErr(len(b), lim.MaxSize)
	}
	n, found, _, err := scanOne(b, maxDepth, lim, nil)
	if err != nil {
		return 0, err
	}
	if n != len(b) {
		return 0, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(b)-n)
	}
	return found, nil
}

// frame is one open array or map of the validator: how many items are
// still to come (a map of n pairs has 2n items) and whether it is a map.
type frame struct {
	left  uint64
	isMap bool
}

// scanOne walks one msgpack value at the start of b without allocating and
// without recursion, and returns its length in bytes. It enforces
// maxDepth and lim.MaxLen, checks every declared length against the bytes
// that remain (an element takes at least one byte, so a count larger than
// the rest of the input is rejected before anything trusts it), accepts
// no extension but the timestamp (type -1, 4, 8 or 12 bytes, nanoseconds
// below 1e9), rejects map keys that are arrays, maps or binary (they could
// not be Go map keys), and rejects the never-used byte 0xc1. It never
// panics: every read is bounds-checked.
//
// When rw is not nil, scanOne also appends the value to rw with every
// timestamp rewritten in its 12-byte form, and returns the result as out.
func scanOne(b []byte, maxDepth int, lim Limits, rw []byte) (n int, found scanFound, out []byte, err error) {
	if maxDepth > maxDepthCap+1 {
		maxDepth = maxDepthCap + 1
	}
	var stack [maxDepthCap + 2]frame
	stack[0] = frame{left: 1} // the value itself
	depth := 0                // index of the innermost open frame
	pos := 0
	maxLen := uint64(lim.MaxLen)
	for {
		top := &stack[depth]
		if top.left == 0 {
			if depth == 0 {
				return pos, found, rw, nil
			}
			depth--
			continue
		}
		isKey := top.isMap && top.left%2 == 0
		top.left--
		if pos >= len(b) {
			return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
		}
		start := pos
		c := b[pos]
		pos++
		var (
			count     uint64 // elements of a container
			isMap     bool
			container bool
			skip      uint64 // payload bytes of a scalar
			kind      = "value"
			ts        timestamp // when isTS
			isTS      bool
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			count, isMap, container = uint64(c&0x0f), true, true
		case c <= 0x9f: // fixarray
			count, container = uint64(c&0x0f), true
		case c <= 0xbf: // fixstr
			skip, kind = uint64(c&0x1f), "string"
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc4, 0xc5, 0xc6: // bin 8/16/32
				if isKey {
					return 0, 0, nil, fmt.Errorf("%w: binary map key at byte %d", errMalformed, pos-1)
				}
				var ok bool
				if skip, pos, ok = readLen(b, pos, 1<<(c-0xc4)); !ok {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				kind = "binary"
			case 0xc7, 0xc8, 0xc9: // ext 8/16/32
				size, p, ok := readLen(b, pos, 1<<(c-0xc7))
				if !ok || p >= len(b) {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				pos = p
				if ts, err = checkExt(b, pos, size); err != nil {
					return 0, 0, nil, err
				}
				isTS = true
				skip = 1 + size
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
				size := uint64(1) << (c - 0xd4)
				if pos >= len(b) {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				if ts, err = checkExt(b, pos, size); err != nil {
					return 0, 0, nil, err
				}
				isTS = true
				skip = 1 + size
			case 0xca, 0xcb: // float 32/64
				skip = 4 << (c - 0xca)
			case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
				skip = 1 << (c - 0xcc)
			case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
				skip = 1 << (c - 0xd0)
			case 0xd9, 0xda, 0xdb: // str 8/16/32
				var ok bool
				if skip, pos, ok = readLen(b, pos, 1<<(c-0xd9)); !ok {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				kind = "string"
			case 0xdc, 0xdd: // array 16/32
				var ok bool
				if count, pos, ok = readLen(b, pos, 2<<(c-0xdc)); !ok {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				container = true
			case 0xde, 0xdf: // map 16/32
				var ok bool
				if count, pos, ok = readLen(b, pos, 2<<(c-0xde)); !ok {
					return 0, 0, nil, fmt.Errorf("%w: truncated at byte %d", errMalformed, pos)
				}
				isMap, container = true, true
			default: // 0xc1, never used
				return 0, 0, nil, fmt.Errorf("%w: invalid byte 0x%02x at %d", errMalformed, c, pos-1)
			}
		}
		rest := uint64(len(b) - pos)
		if container {
			if isKey {
				return 0, 0, nil, fmt.Errorf("%w: array or map as map key at byte %d", errMalformed, pos-1)
			}
			if count > maxLen {
				return 0, 0, nil, fmt.Errorf("%w: %d elements, limit %d", ErrLimit, count, maxLen)
			}
			items := count
			if isMap {
				items *= 2 // count ≤ 2^32, no overflow
			}
			if items > rest {
				return 0, 0, nil, fmt.Errorf("%w: %d elements declared with %d bytes left", errMalformed, count, rest)
			}
			if depth+1 > maxDepth {
				return 0, 0, nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, maxDepth)
			}
			depth++
			stack[depth] = frame{left: items, isMap: isMap}
			if rw != nil {
				rw = append(rw, b[start:pos]...)
			}
			continue
		}
		if kind != "value" && skip > maxLen {
			return 0, 0, nil, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrLimit, kind, skip, maxLen)
		}
		if skip > rest {
			return 0, 0, nil, fmt.Errorf("%w: %d bytes declared with %d left", errMalformed, skip, rest)
		}
		pos += int(skip)
		if isTS {
			found |= foundTime
			if ts.risky {
				found |= foundRiskyTime
			}
			if rw != nil {
				rw = ts.append12(rw)
				continue
			}
		}
		if rw != nil {
			rw = append(rw, b[start:pos]...)
		}
	}
}

// readLen reads a big-endian length of width bytes at pos.
func readLen(b []byte, pos, width int) (uint64, int, bool) {
	if width > len(b)-pos {
		return 0, pos, false
	}
	var n uint64
	for _, x := range b[pos : pos+width] {
		n = n<<8 | uint64(x)
	}
	return n, pos + width, true
}

// timestamp is a decoded msgpack timestamp.
type timestamp struct {
	sec   uint64 // two's complement of the signed seconds
	nsec  uint32
	risky bool // 4 or 8 bytes, first data byte a map header or nil
}

// append12 appends t in the 12-byte timestamp form: ext8, length 12, type
// -1, nanoseconds (4 bytes), seconds (8 bytes).
func (t timestamp) append12(b []byte) []byte {
	b = append(b, 0xc7, 12, 0xff)
	b = binary.BigEndian.AppendUint32(b, t.nsec)
	return binary.BigEndian.AppendUint64(b, t.sec)
}

// checkExt accepts only the msgpack timestamp: type -1 with 4, 8 or 12
// bytes of data and nanoseconds below one second. b[pos] is the type byte,
// followed by size bytes of data.
func checkExt(b []byte, pos int, size uint64) (timestamp, error) {
	var t timestamp
	if typ := int8(b[pos]); typ != -1 {
		return t, fmt.Errorf("%w: extension type %d at byte %d is not allowed", errMalformed, typ, pos)
	}
	if size != 4 && size != 8 && size != 12 {
		return t, fmt.Errorf("%w: timestamp of %d bytes", errMalformed, size)
	}
	data := b[pos+1:]
	if uint64(len(data)) < size {
		return t, fmt.Errorf("%w: truncated timestamp", errMalformed)
	}
	switch size {
	case 4:
		t.sec = uint64(binary.BigEndian.Uint32(data))
	case 8:
		v := binary.BigEndian.Uint64(data)
		t.nsec, t.sec = uint32(v>>34), v&(1<<34-1)
	case 12:
		t.nsec, t.sec = binary.BigEndian.Uint32(data), binary.BigEndian.Uint64(data[4:])
	}
	if t.nsec >= 1e9 {
		return t, fmt.Errorf("%w: timestamp nanoseconds out of range", errMalformed)
	}
	if first := data[0]; size != 12 && (first&0xf0 == 0x80 || first == 0xc0 || first == 0xde || first == 0xdf) {
		t.risky = true
	}
	return t, nil
}

// mapHeader reads a map header at the start of b.
func mapHeader(b []byte) (n, pos int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), 1, true
	case c == 0xde || c == 0xdf:
		v, p, ok := readLen(b, 1, 2<<(c-0xde))
		return int(v), p, ok
	}
	return 0, 0, false
}

// strHeader reads a string header at the start of b.
func strHeader(b []byte) (n, pos int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf:
		return int(c & 0x1f), 1, true
	case c >= 0xd9 && c <= 0xdb:
		v, p, ok := readLen(b, 1, 1<<(c-0xd9))
		return int(v), p, ok
	}
	return 0, 0, false
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x80|byte(n))
	case n <= 0xffff:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendStrHeader(b []byte, n int) []byte {
	switch {
	case n <= 31:
		return append(b, 0xa0|byte(n))
	case n <= 0xff:
		return append(b, 0xd9, byte(n))
	case n <= 0xffff:
		return append(b, 0xda, byte(n>>8), byte(n))
	default:
		return append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
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
