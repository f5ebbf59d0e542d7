package redisstore_test

import (
	"testing"
	"time"
)

// The benchmarks run against the shared real redis-server over loopback,
// with a seed-sized (191-byte) payload; ns/op is mostly the round trip.

func BenchmarkGet(b *testing.B) {
	s := newStore(b, newClient(b))
	e := entry("1", 191)
	mustPut(b, s, e, 0)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, e.Key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetTouch(b *testing.B) {
	s := newStore(b, newClient(b))
	e := entry("1", 191)
	mustPut(b, s, e, 0)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		// touchBefore = now: every call refreshes (the costly path).
		if _, err := s.GetTouch(ctx, e.Key, now, 2*time.Hour, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	s := newStore(b, newClient(b))
	e := entry("1", 191)
	mustPut(b, s, e, 0)
	ctx := b.Context()
	next := e.Clone()
	b.ReportAllocs()
	for b.Loop() {
		prev := next.Version
		next.Version++
		if err := s.Put(ctx, next, prev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := newStore(b, newClient(b))
	e := entry("1", 191)
	mustPut(b, s, e, 0)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, e.Key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
