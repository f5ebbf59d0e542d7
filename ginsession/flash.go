package ginsession

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/vedfolnir/sessions/store"
)

// ErrFlashType is wrapped by the error of Flashes when a flash of the
// category does not decode into the type asked for (see FlashTypeError).
var ErrFlashType = errors.New("ginsession: flash of another type")

// FlashTypeError is the error of Flashes when Kept flashes of Category do
// not decode into the type asked for: they stay in the session, and the
// flashes that did decode are returned and removed. Err is the codec's error
// (a *store.TypeError for a plain mismatch, such as a string read as an
// int). It matches ErrFlashType and store.ErrDecode with errors.Is.
type FlashTypeError struct {
	Category string // the category read
	Kept     int    // how many of its flashes did not decode and stay
	Err      error  // the codec's error for the first of them
}

// Error says how many flashes were kept, and why.
func (e *FlashTypeError) Error() string {
	return "ginsession: " + strconv.Itoa(e.Kept) + " flash(es) of category " + strconv.Quote(e.Category) + " kept: " + e.Err.Error()
}

// Is makes the error match ErrFlashType.
func (e *FlashTypeError) Is(target error) bool { return target == ErrFlashType }

// Unwrap returns the codec's error.
func (e *FlashTypeError) Unwrap() error { return e.Err }

// flash is one pending flash: its category and its msgpack value.
type flash struct {
	cat string
	raw []byte
}

// The stored flashes are one msgpack list under keyFlashes. A string in it
// is a flash of the default category, which is all that earlier releases
// wrote (a []string); any other flash is a [category, value] pair. So
// sessions written before typed flashes read on, and a list of default
// string flashes is still a []string that those releases read too.
func decodeFlashes(raw []byte, lim store.Limits) ([]flash, error) {
	var items []msgpack.RawMessage
	if err := store.DecodeValue(raw, &items, lim); err != nil {
		return nil, err
	}
	out := make([]flash, 0, len(items))
	for i, it := range items {
		if isMsgpackString(it) {
			out = append(out, flash{raw: it})
			continue
		}
		var pair []msgpack.RawMessage
		var cat string
		if err := store.DecodeValue(it, &pair, lim); err != nil || len(pair) != 2 || !isMsgpackString(pair[0]) ||
			store.DecodeValue(pair[0], &cat, lim) != nil {
			return nil, fmt.Errorf("%w: flash %d is neither a string nor a [category, value] pair", store.ErrDecode, i)
		}
		v := pair[1]
		if len(v) == 0 {
			v = msgpackNil // the decoder gives a nil value no bytes
		}
		out = append(out, flash{cat: cat, raw: v})
	}
	return out, nil
}

var msgpackNil = []byte{0xc0}

func encodeFlashes(list []flash, lim store.Limits) ([]byte, error) {
	items := make([]any, len(list))
	for i, f := range list {
		if f.cat == "" && isMsgpackString(f.raw) {
			items[i] = msgpack.RawMessage(f.raw)
		} else {
			items[i] = []any{f.cat, msgpack.RawMessage(f.raw)}
		}
	}
	return store.EncodeValue(items, lim)
}

// isMsgpackString reports whether raw starts a msgpack string (fixstr,
// str8, str16 or str32).
func isMsgpackString(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	c := raw[0]
	return c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb
}

func oneCategory(op string, category []string) (string, error) {
	switch len(category) {
	case 0:
		return "", nil
	case 1:
		return category[0], nil
	}
	return "", wrap(op, fmt.Errorf("one category at most, got %d", len(category)))
}

// AddFlash appends a one-time message: any value Set accepts (a string, a
// struct for a toast with a level and a link), in category (default ""),
// read back and removed by Flashes[T] for that category. Encoding errors and
// size limits are reported here, as by Set.
func (s *Session) AddFlash(v any, category ...string) error {
	cat, err := oneCategory("flash", category)
	if err != nil {
		return err
	}
	raw, err := store.EncodeValue(v, s.m.cfg.Limits)
	if err != nil {
		return wrap("flash", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("flash"); err != nil {
		return err
	}
	old := s.values[keyFlashes]
	var list []flash
	if old != nil {
		if list, err = decodeFlashes(old, s.m.cfg.Limits); err != nil {
			// Unreadable flashes cannot be shown to anyone: they are
			// replaced, not kept to fail every later call.
			s.m.cfg.Logger.WarnContext(s.reqContext(), "ginsession: unreadable flashes dropped", append(s.handleAttr(), "err", err)...)
			list = nil
		}
	}
	enc, err := encodeFlashes(append(list, flash{cat: cat, raw: raw}), s.m.cfg.Limits)
	if err != nil {
		return wrap("flash", err)
	}
	if s.size()-len(old)+len(enc)+len(keyFlashes)+5 > s.m.cfg.Limits.MaxSize {
		return wrap("flash", store.ErrTooLarge)
	}
	s.put(keyFlashes, enc)
	return nil
}

// Flashes returns the pending flashes of category (default "") decoded
// into T, in the order they were added, and removes them: an empty, non-nil
// slice when there are none (JSON []). Flashes of other categories stay.
//
// A flash that does not decode into T is not lost: it stays in the session,
// the others are returned and removed, and the error is a *FlashTypeError
// (errors.Is(err, ErrFlashType)). Flashes[any] takes every flash of the
// category that has an interface form (all but maps with non-string keys),
// whatever its type. Stored flashes that do not decode at all are
// removed, with an error wrapping store.ErrDecode. After the commit, a call
// that would remove flashes is ErrCommitted.
func Flashes[T any](s *Session, category ...string) ([]T, error) {
	cat, err := oneCategory("flashes", category)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	out := []T{}
	raw := s.values[keyFlashes]
	if raw == nil {
		return out, nil
	}
	list, err := decodeFlashes(raw, s.m.cfg.Limits)
	if err != nil {
		if lerr := s.late("flashes"); lerr != nil {
			return nil, lerr
		}
		s.del(keyFlashes)
		return out, wrap("flashes", err)
	}
	var rest []flash
	var mismatch error
	kept := 0
	for _, f := range list {
		if f.cat != cat {
			rest = append(rest, f)
			continue
		}
		var v T
		if err := store.DecodeValue(f.raw, &v, s.m.cfg.Limits); err != nil {
			rest = append(rest, f)
			kept++
			if mismatch == nil {
				mismatch = err
			}
			continue
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		if mismatch != nil {
			return out, &FlashTypeError{Category: cat, Kept: kept, Err: mismatch}
		}
		return out, nil
	}
	if err := s.late("flashes"); err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		s.del(keyFlashes)
	} else {
		enc, err := encodeFlashes(rest, s.m.cfg.Limits)
		if err != nil {
			return nil, wrap("flashes", err)
		}
		s.put(keyFlashes, enc)
	}
	if mismatch != nil {
		return out, &FlashTypeError{Category: cat, Kept: kept, Err: mismatch}
	}
	return out, nil
}

// Flashes is Flashes[string] of the default category: the pending text
// messages, removed as they are returned.
func (s *Session) Flashes() ([]string, error) { return Flashes[string](s) }
