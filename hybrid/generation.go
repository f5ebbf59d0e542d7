package hybrid

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/vedfolnir/sessions/internal/record"
	"github.com/vedfolnir/sessions/store"
)

// Generation is the record a [Store] keeps in its secondary store under
// the reserved key [GenerationKey]: which primary namespace is current, and
// from when secondary copies may be trusted.
type Generation struct {
	// Number names the primary namespace. It only grows: an instance that
	// wrote the secondary without the primary increments it, so no instance
	// reads a namespace that may hold copies older than the secondary's.
	// A store without the record is at generation 1.
	Number uint64
	// TrustFrom is set when the primary served without the secondary (see
	// [MarkPrimaryOnly]): secondary copies last active before it may be
	// stale (changed or deleted in the primary since) and are not read
	// through. Zero: every copy is trusted.
	TrustFrom time.Time
}

// GenerationKey is the reserved store key of the [Generation] record: the
// key of a token text that no token can have, so no cookie can name it. It
// is stored as an anonymous entry that never expires (a hundred years,
// refreshed on every update), never listed by a user index. Its token text
// predates the package name and stays as stored records know it.
var GenerationKey = store.KeyFromToken("sessions/fallback-generation")

// generationRecord is the stored form of the record. Unmirrored is the
// instant from which the primary was written without the secondary
// ([MarkPrimaryOnly]); the next start that reads the secondary turns it
// into TrustFrom.
//
// Leases coordinate a fleet (see fleet.go): each instance writing the
// secondary alone holds a lease, its id mapped to the lease's end (unix
// ms). An instance that recovers removes its own after the generation
// increment that covers its writes; the first instance to see a lease
// expired removes it and increments Number.
type generationRecord struct {
	Number     uint64           `json:"generation"`
	TrustFrom  int64            `json:"trust_from_ms,omitempty"`
	Unmirrored int64            `json:"unmirrored_ms,omitempty"`
	Leases     map[string]int64 `json:"leases,omitempty"`
}

func (r generationRecord) equal(o generationRecord) bool {
	if r.Number != o.Number || r.TrustFrom != o.TrustFrom || r.Unmirrored != o.Unmirrored || len(r.Leases) != len(o.Leases) {
		return false
	}
	for k, v := range r.Leases {
		if w, ok := o.Leases[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// clone copies r, its leases included.
func (r generationRecord) clone() generationRecord {
	if r.Leases != nil {
		r.Leases = maps.Clone(r.Leases)
	}
	return r
}

// leaseEnd is the latest end of r's leases (0: none).
func (r generationRecord) leaseEnd() int64 {
	var end int64
	for _, v := range r.Leases {
		end = max(end, v)
	}
	return end
}

func (r generationRecord) generation() Generation {
	g := Generation{Number: r.Number}
	if r.TrustFrom != 0 {
		g.TrustFrom = time.UnixMilli(r.TrustFrom).UTC()
	}
	return g
}

// LoadGeneration reads the generation record from s (a [Store]'s
// secondary), for [Options.Generation]. A missing record is generation 1
// with no trust cut-off.
func LoadGeneration(ctx context.Context, s store.Store) (Generation, error) {
	r, found, err := record.Load[generationRecord](ctx, s, GenerationKey)
	switch {
	case err != nil:
		return Generation{}, fmt.Errorf("hybrid: generation: %w", err)
	case !found:
		return Generation{Number: 1}, nil
	case r.Number == 0:
		return Generation{}, fmt.Errorf("hybrid: generation: %w: record does not decode", store.ErrCorrupt)
	}
	return r.generation(), nil
}

// loadRecord reads the stored record (generation 1 when there is none).
func loadRecord(ctx context.Context, s store.Store) (generationRecord, error) {
	r, found, err := record.Load[generationRecord](ctx, s, GenerationKey)
	switch {
	case err != nil:
		return r, err
	case !found:
		return generationRecord{Number: 1}, nil
	case r.Number == 0:
		return r, fmt.Errorf("hybrid: generation: %w: record does not decode", store.ErrCorrupt)
	}
	return r, nil
}

// updateGeneration changes the generation record in s: fn gets the
// current record (generation 1 when there is none) and changes it in
// place; an unchanged record that exists is not written again. It returns
// the record stored.
func updateGeneration(ctx context.Context, s store.Store, fn func(*generationRecord)) (Generation, error) {
	r, err := record.Update(ctx, s, GenerationKey, func(cur generationRecord, found bool) (generationRecord, bool, error) {
		if !found {
			cur = generationRecord{Number: 1}
		} else if cur.Number == 0 {
			return cur, false, fmt.Errorf("%w: record does not decode", store.ErrCorrupt)
		}
		next := cur.clone()
		fn(&next)
		next.Number = max(next.Number, 1)
		if len(next.Leases) == 0 {
			next.Leases = nil
		}
		return next, !found || !next.equal(cur), nil
	})
	if err != nil {
		return Generation{}, fmt.Errorf("hybrid: generation: %w", err)
	}
	return r.generation(), nil
}

// MarkPrimaryOnly records in the secondary, when the primary is about to
// be written without it (a storage mode that uses the primary alone), that
// its copies may go stale from now on. The next [ResumeGeneration] or
// [OpenSecondaryOnly] on this secondary then trusts only copies made after
// it starts, even if the primary has lost its own records by then. A mark
// already present keeps its instant.
func MarkPrimaryOnly(ctx context.Context, secondary store.Store) error {
	_, err := updateGeneration(ctx, secondary, func(r *generationRecord) {
		if r.Unmirrored == 0 {
			r.Unmirrored = time.Now().UnixMilli()
		}
	})
	return err
}

// PrimaryState is what the primary's own records say about its last
// writer, for [ResumeGeneration].
type PrimaryState struct {
	// ServedAlone: the primary was last written without the secondary
	// (a primary-only storage mode).
	ServedAlone bool
	// Generation is the namespace that writer used.
	Generation uint64
}

// ResumeGeneration prepares the generation record in secondary for a
// [Store] about to start, and returns it for [Options.Generation]. When
// the primary served alone since the secondary was last current (p says
// so, or a [MarkPrimaryOnly] mark is present), the primary's namespace is
// the truth: the record keeps that namespace (or moves to a fresh one if
// the secondary moved past it meanwhile), and only secondary copies made
// from now on are trusted. Otherwise the record is left as it is.
func ResumeGeneration(ctx context.Context, secondary store.Store, p PrimaryState) (Generation, error) {
	return updateGeneration(ctx, secondary, func(r *generationRecord) {
		if !p.ServedAlone && r.Unmirrored == 0 {
			return
		}
		switch {
		case !p.ServedAlone:
			// The primary lost its record (and its data): nothing to keep.
		case p.Generation >= r.Number:
			r.Number = p.Generation
		default:
			r.Number++
		}
		r.TrustFrom, r.Unmirrored = time.Now().UnixMilli(), 0
	})
}
