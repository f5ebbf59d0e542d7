package store

import (
	"testing"
	"time"
)

// seedSession is the session shape of the original plan: what a logged-in
// user with a selected platform carries.
type seedSession struct {
	UserID               int
	Username             string
	Role                 string
	PlatformConnectionID int
	PlatformName         string
	PlatformType         string
	CreatedAt            time.Time
	LastActivity         time.Time
	CSRFToken            string
}

func newSeedSession() seedSession {
	now := time.Now().UTC()
	return seedSession{
		UserID: 1, Username: "alice", Role: "admin",
		PlatformConnectionID: 1, PlatformName: "mastodon-main", PlatformType: "mastodon",
		CreatedAt: now.Add(-time.Hour), LastActivity: now, CSRFToken: NewToken().String(),
	}
}

// values encodes the session the way a session layer keeps it: one raw
// msgpack value per key.
func (s seedSession) values(tb testing.TB) map[string][]byte {
	out := make(map[string][]byte, 9)
	for k, v := range map[string]any{
		"user_id": s.UserID, "username": s.Username, "role": s.Role,
		"platform_connection_id": s.PlatformConnectionID, "platform_name": s.PlatformName,
		"platform_type": s.PlatformType, "created_at": s.CreatedAt, "last_activity": s.LastActivity,
		"csrf_token": s.CSRFToken,
	} {
		raw, err := EncodeValue(v, Limits{})
		if err != nil {
			tb.Fatal(err)
		}
		out[k] = raw
	}
	return out
}

// decodeSeed decodes every field of a record into its typed target.
func decodeSeed(rec []byte) (seedSession, error) {
	var s seedSession
	vals, err := DecodeRecord(rec, Limits{})
	if err != nil {
		return s, err
	}
	for _, f := range []struct {
		k string
		v any
	}{
		{"user_id", &s.UserID}, {"username", &s.Username}, {"role", &s.Role},
		{"platform_connection_id", &s.PlatformConnectionID}, {"platform_name", &s.PlatformName},
		{"platform_type", &s.PlatformType}, {"created_at", &s.CreatedAt},
		{"last_activity", &s.LastActivity}, {"csrf_token", &s.CSRFToken},
	} {
		if err := DecodeValue(vals[f.k], f.v, Limits{}); err != nil {
			return s, err
		}
	}
	return s, nil
}

func TestSeedSessionSealedSize(t *testing.T) {
	s := newSeedSession()
	rec, err := EncodeRecord(s.values(t), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSeed(rec)
	if err != nil || got != s {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	r := testRing(t, testKey(t))
	sealed, err := r.Seal(NewToken().Key(), 's', rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed session: record %d bytes, sealed %d bytes", len(rec), len(sealed))
	if len(sealed) > 250 {
		t.Fatalf("sealed seed session is %d bytes, want ≤ 250", len(sealed))
	}
}

func BenchmarkCodec(b *testing.B) {
	s := newSeedSession()
	rec, err := EncodeRecord(s.values(b), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeRecord(s.values(b), Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeSeed(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode+decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec, err := EncodeRecord(s.values(b), Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := decodeSeed(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		lim := Limits{}.withDefaults()
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			if _, err := validate(rec, lim.MaxDepth+1, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEnvelope(b *testing.B) {
	s := newSeedSession()
	rec, err := EncodeRecord(s.values(b), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	r := testRing(b, testKey(b), testKey(b))
	sk := NewToken().Key()
	sealed, _ := r.Seal(sk, 's', rec)
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Seal(sk, 's', rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := r.Open(sk, 's', sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal+open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := r.Seal(sk, 's', rec)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := r.Open(sk, 's', out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal+open parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			sk := NewToken().Key()
			for pb.Next() {
				out, err := r.Seal(sk, 's', rec)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := r.Open(sk, 's', out); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkSession is the whole path of one request that reads and writes
// the seed session: open+decode, then encode+seal.
func BenchmarkSession(b *testing.B) {
	s := newSeedSession()
	r := testRing(b, testKey(b))
	sk := NewToken().Key()
	vals := s.values(b)
	rec, _ := EncodeRecord(vals, Limits{})
	sealed, _ := r.Seal(sk, 's', rec)
	b.ReportAllocs()
	for b.Loop() {
		pt, _, err := r.Open(sk, 's', sealed)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeSeed(pt); err != nil {
			b.Fatal(err)
		}
		rec, err := EncodeRecord(vals, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Seal(sk, 's', rec); err != nil {
			b.Fatal(err)
		}
	}
}
