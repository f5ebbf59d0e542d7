package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Value layout of a session key (all integers big-endian or varint):
//
//	[0]      format: high nibble 0xA, low nibble n = bytes of the version (1..8)
//	[1..n]   version, minimal big-endian (no leading zero byte)
//	varint   created, ms since the Unix epoch (zigzag, as encoding/binary.AppendVarint)
//	varint   last activity - created, ms (zigzag)
//	varint   idle deadline - last activity, ms (zigzag)
//	varint   absolute deadline - created, ms (zigzag)
//	uvarint  length of the user id, then its bytes
//	...      payload (the sealed envelope), to the end of the value
//
// The header is 1+n+4 varints, 17 to 21 bytes for a real session, where a
// fixed-width header (8-byte version, four 8-byte times) would take 33 and
// push the seed-shaped session into the next allocator class of Redis (see
// the package documentation). The Lua scripts parse the same layout,
// compare versions as strings (minimal big-endian compares like the number
// once lengths are equal), and rebuild the header when they refresh
// activity, copying the user id and payload through unchanged.
//
// Lua numbers are doubles, exact below 2^53: every time must lie within
// ±maxMillis of the epoch (about ±35,000 years) so that the times, their
// differences and the zigzag encodings of those differences stay exact.
// Versions never become Lua numbers, so the whole uint64 range works.
const (
	formatTag  = 0xA0
	formatMask = 0xF0
	maxMillis  = 1 << 50
	maxVarint  = 8 // bytes; zigzag of |d| <= 2^51 needs at most 53 bits
)

// errRange is the cause given for a time outside ±maxMillis.
var errRange = errors.New("time out of range (more than 35,000 years from 1970)")

// millis converts t to ms since the epoch, checking the range the Lua
// scripts can handle exactly.
func millis(t time.Time) (int64, error) {
	// Check the seconds first: UnixMilli overflows for far times.
	// (One second of slack: Unix floors, and the exact check is the ms one
	// below, the same bound decodeEntry applies.)
	if sec := t.Unix(); sec > maxMillis/1000+1 || sec < -maxMillis/1000-1 {
		return 0, errRange
	}
	ms := t.UnixMilli()
	if ms > maxMillis || ms < -maxMillis {
		return 0, errRange
	}
	return ms, nil
}

// versionBytes returns the minimal big-endian bytes of v ("" for 0).
func versionBytes(v uint64) string {
	n := (bits.Len64(v) + 7) / 8
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return string(b[8-n:])
}

// header holds an entry's times in ms, validated for encoding.
type header struct {
	created, last, idle, abs int64
}

// entryHeader validates e's times for the encoding.
func entryHeader(e *store.Entry) (header, error) {
	var h header
	var err error
	if h.created, err = millis(e.Created); err != nil {
		return h, err
	}
	if h.last, err = millis(e.LastActivity); err != nil {
		return h, err
	}
	if h.idle, err = millis(e.IdleDeadline); err != nil {
		return h, err
	}
	if h.abs, err = millis(e.AbsoluteDeadline); err != nil {
		return h, err
	}
	return h, nil
}

// deadline is the earlier of the two deadlines, in ms.
func (h header) deadline() int64 { return min(h.idle, h.abs) }

// appendEntry appends the encoding of e, whose times are h, to dst.
func appendEntry(dst []byte, e *store.Entry, h header) []byte {
	v := versionBytes(e.Version)
	dst = append(dst, formatTag|byte(len(v)))
	dst = append(dst, v...)
	dst = binary.AppendVarint(dst, h.created)
	dst = binary.AppendVarint(dst, h.last-h.created)
	dst = binary.AppendVarint(dst, h.idle-h.last)
	dst = binary.AppendVarint(dst, h.abs-h.created)
	dst = appendUserID(dst, e.UserID)
	return append(dst, e.Payload...)
}

// appendUserID appends the user id segment: uvarint length, then bytes. The
// delete-user script compares a stored segment with this one.
func appendUserID(dst []byte, uid string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(uid)))
	return append(dst, uid...)
}

// corrupt builds the error for bytes that are not an entry.
func corrupt(why string) error { return fmt.Errorf("%w: %s", store.ErrCorrupt, why) }

// decodeEntry parses a stored value for key. Anything that is not exactly
// a value appendEntry could have produced, or a script could have
// rebuilt, is store.ErrCorrupt; it never panics.
func decodeEntry(key string, b []byte) (*store.Entry, header, error) {
	e, h, err := decodeOwned(key, b)
	if err == nil && e.Payload != nil {
		e.Payload = append([]byte(nil), e.Payload...)
	}
	return e, h, err
}

// decodeOwned is decodeEntry for bytes the caller hands over: the entry's
// payload aliases b.
func decodeOwned(key string, b []byte) (*store.Entry, header, error) {
	var h header
	if len(b) == 0 || b[0]&formatMask != formatTag {
		return nil, h, corrupt("unknown format")
	}
	n := int(b[0] &^ formatMask)
	if n < 1 || n > 8 || len(b) < 1+n || b[1] == 0 {
		return nil, h, corrupt("bad version")
	}
	var ver uint64
	for _, c := range b[1 : 1+n] {
		ver = ver<<8 | uint64(c)
	}
	p := 1 + n
	var d [4]int64
	for i := range d {
		x, m := binary.Varint(b[p:])
		if m <= 0 || m > maxVarint {
			return nil, h, corrupt("bad time field")
		}
		d[i] = x
		p += m
	}
	// Varints of at most 8 bytes are below 2^56 in magnitude: the sums
	// cannot overflow before the range check below.
	h.created = d[0]
	h.last = h.created + d[1]
	h.idle = h.last + d[2]
	h.abs = h.created + d[3]
	for i, x := range [...]int64{d[0], d[1], d[2], d[3], h.last, h.idle, h.abs} {
		lim := int64(maxMillis)
		if i >= 1 && i <= 3 {
			lim = 2 * maxMillis // a difference of two in-range times
		}
		if x > lim || x < -lim {
			return nil, h, corrupt("time out of range")
		}
	}
	ul, m := binary.Uvarint(b[p:])
	if m <= 0 || ul > uint64(len(b)-p-m) {
		return nil, h, corrupt("bad user id")
	}
	p += m
	e := &store.Entry{
		Key:              key,
		Version:          ver,
		UserID:           string(b[p : p+int(ul)]),
		Created:          time.UnixMilli(h.created).UTC(),
		LastActivity:     time.UnixMilli(h.last).UTC(),
		IdleDeadline:     time.UnixMilli(h.idle).UTC(),
		AbsoluteDeadline: time.UnixMilli(h.abs).UTC(),
	}
	if rest := b[p+int(ul):]; len(rest) > 0 {
		e.Payload = rest[:len(rest):len(rest)]
	}
	return e, h, nil
}
