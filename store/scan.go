package store

// The validator of stored msgpack: every record and value is walked
// once, bounded in depth, size and count, before anything decodes it.

import (
	"encoding/binary"
	"fmt"
)

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
