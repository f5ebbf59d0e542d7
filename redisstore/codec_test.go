package redisstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

func codecEntry(t testing.TB, version uint64, uid string, payload []byte) *store.Entry {
	t.Helper()
	now := time.Now()
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          version,
		UserID:           uid,
		Created:          now.Add(-time.Hour),
		LastActivity:     now,
		IdleDeadline:     now.Add(2 * time.Hour),
		AbsoluteDeadline: now.Add(30 * 24 * time.Hour),
		Payload:          payload,
	}
	e.Normalize()
	return e
}

func encodeForTest(t testing.TB, e *store.Entry) []byte {
	t.Helper()
	h, err := entryHeader(e)
	if err != nil {
		t.Fatal(err)
	}
	return appendEntry(nil, e, h)
}

func TestCodecRoundTrip(t *testing.T) {
	far := time.Date(29999, 12, 31, 23, 59, 59, 999e6, time.UTC)
	for _, e := range []*store.Entry{
		codecEntry(t, 1, "1", bytes.Repeat([]byte{7}, 191)),
		codecEntry(t, math.MaxUint64, "", nil),
		codecEntry(t, 1<<56, "a:b", []byte{0}),
		{Key: store.NewToken().Key(), Version: 256, UserID: "\x00\xff", Created: time.Time{},
			LastActivity: far, IdleDeadline: time.Unix(0, 0).UTC(), AbsoluteDeadline: far, Payload: []byte("x")},
	} {
		b := encodeForTest(t, e)
		got, h, err := decodeEntry(e.Key, b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if h.deadline() != min(e.IdleDeadline.UnixMilli(), e.AbsoluteDeadline.UnixMilli()) {
			t.Errorf("deadline %d", h.deadline())
		}
		want := e.Clone()
		want.Normalize()
		if got.Version != want.Version || got.UserID != want.UserID || !got.Created.Equal(want.Created) ||
			!got.LastActivity.Equal(want.LastActivity) || !got.IdleDeadline.Equal(want.IdleDeadline) ||
			!got.AbsoluteDeadline.Equal(want.AbsoluteDeadline) || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestCodecHeaderSize(t *testing.T) {
	e := codecEntry(t, 1, "1", nil)
	b := encodeForTest(t, e)
	// format+version 2, created 6, 1 h 4, 2 h 4, 30 days 5, user id 2.
	if len(b) > 23 {
		t.Errorf("header + user id of a seed-shaped session: %d bytes, want <= 23", len(b))
	}
	t.Logf("header + user id \"1\": %d bytes", len(b))
}

func TestCodecRange(t *testing.T) {
	e := codecEntry(t, 1, "", nil)
	e.AbsoluteDeadline = time.Date(40000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := entryHeader(e); !errors.Is(err, errRange) {
		t.Errorf("year 40000: %v, want errRange", err)
	}
	e = codecEntry(t, 1, "", nil)
	e.Created = time.Date(-40000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := entryHeader(e); !errors.Is(err, errRange) {
		t.Errorf("year -40000: %v, want errRange", err)
	}
}

// hostileValues are byte strings no encoder writes.
func hostileValues() [][]byte {
	valid := encodeForTest(&testing.T{}, codecEntry(&testing.T{}, 300, "user", []byte("payload")))
	big := binary.AppendVarint([]byte{0xA1, 1}, math.MaxInt64)
	return [][]byte{
		nil,
		{},
		{0xA0},
		{0xA9},
		{0xA1},
		{0xA1, 0},                     // leading zero version byte
		{0xB1, 1, 0, 0, 0, 0, 0},      // wrong format nibble
		{0xA1, 1, 0, 0, 0},            // missing field
		{0xA1, 1, 0, 0, 0, 0},         // missing user id length
		{0xA1, 1, 0, 0, 0, 0, 5, 'a'}, // user id longer than the value
		{0xA1, 1, 0, 0, 0, 0, 0xff},   // truncated uvarint
		append(big, 0, 0, 0, 0),       // created out of range
		{0xA1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0}, // 9-byte varint
		valid[:len(valid)-len("payload")-1],
		bytes.Repeat([]byte{0xff}, 64),
	}
}

func TestDecodeHostile(t *testing.T) {
	for _, b := range hostileValues() {
		if _, _, err := decodeEntry("k", b); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("decode %x: %v, want ErrCorrupt", b, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeForTest(f, codecEntry(f, 1, "1", bytes.Repeat([]byte{7}, 191))))
	f.Add(encodeForTest(f, codecEntry(f, math.MaxUint64, "", nil)))
	f.Add(encodeForTest(f, codecEntry(f, 70000, "a:b", []byte{1, 2, 3})))
	for _, b := range hostileValues() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, h, err := decodeEntry("k", b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes re-encodes and decodes to the same entry.
		h2, err := entryHeader(e)
		if err != nil {
			t.Fatalf("decoded entry does not re-encode: %v", err)
		}
		if h2 != h {
			t.Fatalf("header %+v re-reads as %+v", h, h2)
		}
		again, _, err := decodeEntry("k", appendEntry(nil, e, h2))
		if err != nil || again.Version != e.Version || again.UserID != e.UserID || !bytes.Equal(again.Payload, e.Payload) || h2.deadline() != h.deadline() {
			t.Fatalf("re-encoding does not round trip: %v", err)
		}
	})
}
