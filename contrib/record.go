package contrib

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"maps"
	"reflect"

	"github.com/vedfolnir/sessions/store"
)

// recordGob is the record type of this package's envelopes: gob values,
// never confused with a ginsession envelope (msgpack) under the same key.
const recordGob byte = 'g'

// bindings is the extra associated data of an envelope: the entry's
// creation and absolute deadline, so a store writer who edits either makes
// the envelope fail to open.
func bindings(e *store.Entry) []byte {
	b := make([]byte, 0, 16)
	b = binary.BigEndian.AppendUint64(b, uint64(store.Millis(e.Created).UnixMilli()))
	return binary.BigEndian.AppendUint64(b, uint64(store.Millis(e.AbsoluteDeadline).UnixMilli()))
}

// open authenticates e's envelope and only then decodes its values. A
// failed open is exactly store.ErrOpen. stale reports an envelope sealed
// under a key other than the ring's active one.
func (s *Store) open(e *store.Entry) (plain []byte, vals map[any]any, stale bool, err error) {
	plain, stale, err = s.kr.OpenWith(e.Key, recordGob, bindings(e), e.Payload)
	if err != nil {
		return nil, nil, false, err
	}
	vals, err = decode(plain)
	if err != nil {
		return nil, nil, false, err
	}
	return plain, vals, stale, nil
}

func (s *Store) seal(e *store.Entry, plain []byte) error {
	p, err := s.kr.SealWith(e.Key, recordGob, bindings(e), plain)
	if err != nil {
		return fmt.Errorf("contrib: save: %w", err)
	}
	e.Payload = p
	return nil
}

// encode is gorilla's own encoding of a session: gob of the value map.
func encode(vals map[any]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(vals); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return buf.Bytes(), nil
}

func decode(plain []byte) (map[any]any, error) {
	vals := map[any]any{}
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(&vals); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return vals, nil
}

// merge applies this request's changes (from snap, what it read, to cur,
// what it holds now) onto base, what the store holds now: keys the request
// set or changed take its value, keys it deleted go, every other key keeps
// base's value, so a concurrent request's change to another key survives.
func merge(base, snap, cur map[any]any) map[any]any {
	out := maps.Clone(base)
	for k, v := range cur {
		if old, ok := snap[k]; !ok || !reflect.DeepEqual(old, v) {
			out[k] = v
		}
	}
	for k := range snap {
		if _, ok := cur[k]; !ok {
			delete(out, k)
		}
	}
	return out
}
