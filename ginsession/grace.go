package ginsession

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Periodic rotation with grace.
//
// When a session is due (Config.RotateEvery), the first request that
// notices stores the session under a new token, then turns the old entry
// into a forwarding record with a compare-and-set on its version. Of many
// requests racing on the old token exactly one wins the compare-and-set;
// the others drop the session they prepared and follow the winner's record,
// so one rotation yields one new token. The forwarding record lives for
// Config.RotateGrace (its absolute deadline is capped there, so no refresh
// can stretch it) and holds the successor token encrypted under a key
// derived from the old token: the store, the key ring and a backup together
// still cannot produce a usable token, and only a client that holds the old
// token can follow it.

func forwardAEAD(old store.Token) cipher.AEAD {
	k := sha256.Sum256([]byte("sessions/forward\x00" + old.String()))
	block, _ := aes.NewCipher(k[:]) // 32-byte key: cannot fail
	gcm, _ := cipher.NewGCM(block)  // standard parameters: cannot fail
	return gcm
}

func sealForward(old, next store.Token) []byte {
	gcm := forwardAEAD(old)
	nonce := randomBytes(gcm.NonceSize())
	return gcm.Seal(nonce, nonce, []byte(next.String()), nil)
}

func openForward(old store.Token, ct []byte) (store.Token, error) {
	gcm := forwardAEAD(old)
	if len(ct) < gcm.NonceSize() {
		return "", errors.New("short forward record")
	}
	plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return store.ParseToken(string(plain))
}

// follow resolves a forwarding record reached with token old. A nil entry
// and nil error mean the successor is gone: the session is fresh.
func (s *Session) follow(ctx context.Context, old store.Token, fwd []byte) (store.Token, *store.Entry, map[string][]byte, error) {
	var ct []byte
	next := store.Token("")
	err := store.DecodeValue(fwd, &ct, s.m.cfg.Limits)
	if err == nil {
		next, err = openForward(old, ct)
	}
	if err != nil {
		s.reject(old.Key(), "", RejectDecrypt)
		return "", nil, nil, nil
	}
	e, err := s.m.cfg.Store.Get(ctx, next.Key())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
		s.reject(next.Key(), "", RejectUnknown)
		return "", nil, nil, nil
	case err != nil:
		return "", nil, nil, wrap("load", err)
	}
	vals, _, reason := s.m.open(e)
	if reason != "" || dead(vals) || !s.m.bound(e, vals) || e.Expired(s.m.cfg.Now()) {
		s.reject(e.Key, e.UserID, RejectUnknown)
		return "", nil, nil, nil
	}
	return next, e, vals, nil
}

// graceRotate rotates a due session, keeping the old token alive for the
// grace window. Failures leave the session as it is: rotation is retried
// on a later request.
func (s *Session) graceRotate(ctx context.Context, now time.Time) {
	st := s.m.cfg.Store
	old, oldTok := s.entry, s.token
	next := store.NewToken()
	nextKey := next.Key()
	vals := cloneMap(s.values)
	if raw, err := store.EncodeValue(store.Millis(now).UnixMilli(), s.m.cfg.Limits); err == nil {
		vals[keyRotated] = raw
	}
	if s.m.cfg.Fingerprint.Enabled {
		if raw, err := store.EncodeValue(s.fingerprint(next), s.m.cfg.Limits); err == nil {
			vals[keyFinger] = raw
		}
	}
	ne := s.newEntry(nextKey, old.UserID, old.Created, old.AbsoluteDeadline, now, nil)
	payload, err := s.m.seal(ne, vals)
	if err != nil {
		return
	}
	ne.Payload = payload
	graceEnd := minTime(now.Add(s.m.cfg.RotateGrace), old.AbsoluteDeadline)
	fe := &store.Entry{Key: old.Key, Version: old.Version + 1, UserID: old.UserID, Created: old.Created,
		LastActivity: now, IdleDeadline: graceEnd, AbsoluteDeadline: graceEnd}
	fe.Normalize()
	fwdRaw, _ := store.EncodeValue(sealForward(oldTok, next), s.m.cfg.Limits)
	fwdPayload, err := s.m.seal(fe, map[string][]byte{keyForward: fwdRaw})
	if err != nil {
		return
	}
	fe.Payload = fwdPayload
	if err := st.Put(ctx, ne, 0); err != nil {
		s.m.cfg.Logger.WarnContext(ctx, "ginsession: periodic rotation", "session", store.Handle(old.Key), "err", err)
		return
	}
	if err := st.Put(ctx, fe, old.Version); err != nil {
		// Another request rotated (or wrote) first: drop ours, follow theirs.
		_ = st.Delete(ctx, nextKey)
		cur, gerr := st.Get(ctx, old.Key)
		if gerr != nil {
			return
		}
		cvals, _, reason := s.m.open(cur)
		if reason != "" {
			return
		}
		if fwd := cvals[keyForward]; fwd != nil {
			if tok, e, v, ferr := s.follow(ctx, oldTok, fwd); ferr == nil && e != nil {
				s.token, s.entry, s.values, s.setCookie = tok, e, v, true
			}
			return
		}
		if cvals[keyTomb] != nil || !s.m.bound(cur, cvals) {
			s.reset()
			return
		}
		s.entry, s.values = cur, cvals
		return
	}
	s.token, s.entry, s.values, s.setCookie = next, ne, vals, true
	s.m.Emit(Event{Kind: EventRotated, Time: now.UTC(), Session: store.Handle(old.Key), UserID: old.UserID,
		IP: s.c.ClientIP(), UserAgent: s.c.Request.UserAgent(), Detail: store.Handle(nextKey)})
}
