package hybrid_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite": dbstore links none itself

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/store"
)

// Two SQLite files stand in for Redis and SQL: the composition serves from
// the primary, mirrors into the secondary, and keeps serving from the
// secondary when the primary fails.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "hybrid-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	primary, err := dbstore.Open(ctx, filepath.Join(dir, "primary.db"), dbstore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	secondary, err := dbstore.Open(ctx, filepath.Join(dir, "secondary.db"), dbstore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer secondary.Close()

	changes := make(chan bool, 2)
	h, err := hybrid.New(primary, secondary, hybrid.Options{
		OnStateChange: func(engaged bool) { changes <- engaged }, // from the store's goroutine
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	now := time.Now()
	e := &store.Entry{Key: store.NewToken().Key(), Version: 1, Created: now, LastActivity: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(24 * time.Hour), Payload: []byte("sealed")}
	if err := h.Put(ctx, e, 0); err != nil {
		fmt.Println(err)
		return
	}
	mirrored, _ := secondary.Get(ctx, e.Key)
	fmt.Println("mirrored:", string(mirrored.Payload))

	_ = primary.Close() // the primary fails
	next := e.Clone()
	next.Version, next.Payload = 2, []byte("changed during the outage")
	if err := h.Put(ctx, next, 1); err != nil {
		fmt.Println(err)
		return
	}
	got, err := h.Get(ctx, e.Key)
	fmt.Println("served:", string(got.Payload), err)
	fmt.Println("engaged:", <-changes)
	st := h.Status()
	fmt.Println("status:", st.Engaged, st.Breaker, st.OutageKeys)
	// Output:
	// mirrored: sealed
	// served: changed during the outage <nil>
	// engaged: true
	// status: true open 1
}
