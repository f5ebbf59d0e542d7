package ginsession

import (
	"errors"
	"strconv"

	"github.com/vedfolnir/sessions/store"
)

func checkKey(key string) error {
	if key == "" || key[0] == 0 {
		return ErrReservedKey
	}
	return nil
}

// Get decodes the value under key into a T. A missing key is ErrNoValue; a
// value that does not decode into T is an error wrapping store.ErrDecode.
// No type registration is ever needed.
func Get[T any](s *Session, key string) (T, error) {
	var v T
	if err := checkKey(key); err != nil {
		return v, err
	}
	raw, err := s.raw(key)
	if err != nil {
		return v, err
	}
	if raw == nil {
		return v, ErrNoValue
	}
	if err := store.DecodeValue(raw, &v, s.m.cfg.Limits); err != nil {
		var te *store.TypeError
		if errors.As(err, &te) {
			return v, &ValueTypeError{Key: key, TypeError: te}
		}
		return v, wrap("get", err)
	}
	return v, nil
}

// ValueTypeError is Get's error when the stored value is of another kind
// than T, as in `session value "k" is an integer, not a string`. It wraps
// the codec's *store.TypeError, and so store.ErrDecode.
type ValueTypeError struct {
	Key string
	*store.TypeError
}

func (e *ValueTypeError) Error() string {
	return "ginsession: session value " + strconv.Quote(e.Key) + " is " + e.Stored + ", not " + e.Target
}

// Unwrap returns the codec's error.
func (e *ValueTypeError) Unwrap() error { return e.TypeError }

// GetOr is Get with a default for a missing or undecodable value, and for a
// store failure (which is still reported by the next Set or the commit).
func GetOr[T any](s *Session, key string, def T) T {
	v, err := Get[T](s, key)
	if err != nil {
		return def
	}
	return v
}

func (s *Session) raw(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	return s.values[key], nil
}

// Set encodes v (msgpack) and records it under key. Encoding errors and size
// limits are reported here, at the call, not at the commit.
func (s *Session) Set(key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	raw, err := store.EncodeValue(v, s.m.cfg.Limits)
	if err != nil {
		return wrap("set", err)
	}
	return s.setRaw(key, raw)
}

func (s *Session) setRaw(key string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("set"); err != nil {
		return err
	}
	if s.size()-len(s.values[key])+len(raw)+len(key)+5 > s.m.cfg.Limits.MaxSize {
		return wrap("set", store.ErrTooLarge) // refused: nothing changes, not even the dirty flag
	}
	s.put(key, raw)
	return nil
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) (bool, error) {
	raw, err := s.raw(key)
	return raw != nil, err
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("delete"); err != nil {
		return err
	}
	s.del(key)
	return nil
}

// Keys returns the application's keys (not this package's own).
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.values))
	for k := range s.values {
		if k[0] != 0 {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Clear removes every application value. Identity and CSRF token stay: use
// Logout to end the session.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if err := s.late("clear"); err != nil {
		return err
	}
	for k := range s.values {
		if k[0] != 0 {
			s.del(k)
		}
	}
	return nil
}
