package dbstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

// BenchmarkCopyInBatch is the hybrid mirror's write: batches of updates to
// sessions spread over 1,000 keys, as the group-committed copies of many
// sessions' concurrent requests give them, on each engine. ns/op is per
// row.
func BenchmarkCopyInBatch(b *testing.B) {
	engines := []struct {
		name string
		open func(t testing.TB, opts dbstore.Options) *dbstore.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}, {"mysql", openMySQL}}
	for _, eng := range engines {
		for _, size := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/batch%02d", eng.name, size), func(b *testing.B) {
				s := eng.open(b, dbstore.Options{})
				ctx := context.Background()
				es := make([]*store.Entry, 1000)
				for i := range es {
					es[i] = storetest.NewEntry(fmt.Sprint("user", i%100))
					es[i].Payload = make([]byte, 400)
				}
				if _, err := s.CopyInBatch(ctx, es); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				next := 0
				for n := 0; n < b.N; n += size {
					batch := make([]*store.Entry, size)
					for j := range batch {
						e := es[(next*7919)%len(es)]
						next++
						e.Version++
						batch[j] = e
					}
					if _, err := s.CopyInBatch(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
