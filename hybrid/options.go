package hybrid

import (
	"log/slog"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Options configures a [Store], and a [SecondaryOnly] (which uses only
// GenerationInterval, MirrorTimeout and Logger). The zero value works.
type Options struct {
	// WriteBehind mirrors writes to the secondary from the background queue
	// instead of within the call: a write costs one primary round trip, and
	// an acknowledged write lives only in the primary and in this process's
	// memory until a worker has copied it (the loss window: see
	// [Status.LagP99]). A Store that fails over drains the queued
	// state of a key before using the secondary for it, so a primary outage
	// loses nothing; a crash of the process during the window does. Default
	// false: write-through. No environment variable.
	WriteBehind bool

	// QueueSize bounds the mirror queue, in distinct keys. A state that
	// does not fit is dropped and counted ([Status.Dropped]): the
	// primary has it, the secondary may miss it. Default 65536.
	QueueSize int

	// MirrorWorkers is the number of goroutines that copy queued states to
	// the secondary. Default 4.
	MirrorWorkers int

	// MirrorTimeout bounds each secondary call made to mirror a write,
	// refill a miss or maintain the generation. Default 2s.
	MirrorTimeout time.Duration

	// FailureThreshold is the number of consecutive outage errors of
	// primary reads that open the breaker. A failed write opens it at once.
	// Default 3.
	FailureThreshold int

	// ProbeInterval is how long the breaker stays open before the primary
	// is probed again, and the period of later probes. Default 500ms.
	ProbeInterval time.Duration

	// PrimaryTimeout bounds each primary call inside the caller's deadline,
	// so that a slow primary leaves the secondary time to answer. Give the
	// primary's client shorter timeouts still (redisstore.NewFromURL's
	// fail-fast settings). Not applied while mirror writes fail (the secondary is no
	// better place to go). Default 500ms.
	PrimaryTimeout time.Duration

	// Namespace, when set, returns the primary store for a generation (for
	// Redis: a redisstore on the same client with the generation in its key
	// prefix). The primary passed to [New] must be the store of
	// Generation.Number. Default nil: one primary namespace, reconciled key
	// by key after an outage (sound for a single instance only).
	Namespace func(generation uint64) (store.Store, error)

	// Generation is the secondary's generation record at construction (read
	// it with [LoadGeneration]). Its Number names the primary's namespace
	// when Namespace is set; its TrustFrom applies either way. Default: the
	// zero record (generation 1, every secondary copy trusted).
	Generation Generation

	// GenerationInterval is how often a healthy store reads the
	// generation record and an engaged one that wrote increments it.
	// Default 1s. Only used with Namespace, and by [OpenSecondaryOnly].
	GenerationInterval time.Duration

	// FleetPollInterval is how often a store with a Namespace reads the
	// generation record to follow the fleet: the generation, and the lease
	// of instances writing the secondary alone (the package documentation
	// tells how they coordinate). Default 100ms.
	FleetPollInterval time.Duration

	// FleetWindow is how old a store's last successful read of the record
	// may be before it checks primary copies against the secondary, how
	// long it keeps checking after moving namespace, and how long an
	// instance that starts a lease announces it before acknowledging its
	// first secondary-only write. At least twice FleetPollInterval; the
	// margin above that absorbs slow reads of a loaded secondary. Default
	// 5 × FleetPollInterval.
	FleetWindow time.Duration

	// LeaseDuration is how long a secondary-only writer's lease lasts past
	// its latest renewal (renewed when less than half is left). Other
	// instances check primary copies against the secondary while it is
	// live. It must exceed twice ClockSkew. Default 2s.
	LeaseDuration time.Duration

	// ClockSkew is the largest difference assumed between the instances'
	// wall clocks, added to a lease before it is taken as expired. Default
	// 500ms.
	ClockSkew time.Duration

	// MaxOutageKeys bounds how many keys touched during one outage are
	// remembered. With a Namespace, the keys beyond it are simply not
	// warmed ahead of demand. Without one they cannot be reconciled, so the
	// store then stays engaged (serving from the secondary) until it is
	// rebuilt, and says so in the log. Default 1<<20.
	MaxOutageKeys int

	// CloseTimeout bounds how long Close waits for the mirror queue to
	// drain. Default 5s.
	CloseTimeout time.Duration

	// OnStateChange is called with true when the store engages (calls go
	// to the secondary) and with false when it has recovered, in that
	// order, from the store's own goroutine. Wire it to
	// ginsession.Manager.Emit with EventFallbackEngaged and
	// EventFallbackRecovered. Default nil.
	OnStateChange func(engaged bool)

	// OnGeneration is called, from the store's goroutine, after the
	// primary moved to another generation's namespace. Default nil.
	OnGeneration func(generation uint64)

	// Observer is told of every operation of the store, as store
	// "hybrid", with Result.Fallback set when the secondary served it. Give
	// the primary and secondary stores an observer of their own to see the
	// calls made to each. Default nil.
	Observer store.Observer

	// Logger receives what cannot be returned to a caller (mirror
	// failures, recovery attempts). Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.MirrorWorkers <= 0 {
		o.MirrorWorkers = 4
	}
	if o.MirrorTimeout <= 0 {
		o.MirrorTimeout = 2 * time.Second
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 3
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 500 * time.Millisecond
	}
	if o.PrimaryTimeout <= 0 {
		o.PrimaryTimeout = 500 * time.Millisecond
	}
	if o.Generation.Number == 0 {
		o.Generation.Number = 1
	}
	if o.GenerationInterval <= 0 {
		o.GenerationInterval = time.Second
	}
	if o.FleetPollInterval <= 0 {
		o.FleetPollInterval = 100 * time.Millisecond
	}
	if o.FleetWindow < 2*o.FleetPollInterval {
		o.FleetWindow = 5 * o.FleetPollInterval
	}
	if o.ClockSkew <= 0 {
		o.ClockSkew = 500 * time.Millisecond
	}
	if o.LeaseDuration <= 2*o.ClockSkew {
		o.LeaseDuration = max(2*time.Second, 3*o.ClockSkew)
	}
	if o.MaxOutageKeys <= 0 {
		o.MaxOutageKeys = 1 << 20
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
