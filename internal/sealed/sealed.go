// Package sealed names how the session layer seals a session's record:
// the record type bound into the envelope's associated data and the entry
// fields bound with it. ginsession seals and opens with it; tests and
// tools that read or write stored sessions directly use the same
// definitions, so none of them is exported by the library.
package sealed

import (
	"encoding/binary"

	"github.com/vedfolnir/sessions/store"
)

// Legacy is the record type of session envelopes that hold sealed copies
// of the entry's user id and times; still opened, never written.
const Legacy byte = 's'

// Bound is the record type of session envelopes sealed with the entry's
// user id, creation time and absolute deadline as associated data
// ([Bindings]): a store writer who edits any of them makes the envelope
// fail to open, so none of them needs a sealed copy.
const Bound byte = 'b'

// Bindings appends the entry fields a Bound envelope binds: the user id
// (length-prefixed), then the creation time and absolute deadline in Unix
// milliseconds, 8 bytes big-endian each.
func Bindings(buf []byte, e *store.Entry) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(e.UserID)))
	buf = append(buf, e.UserID...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(store.Millis(e.Created).UnixMilli()))
	return binary.BigEndian.AppendUint64(buf, uint64(store.Millis(e.AbsoluteDeadline).UnixMilli()))
}
