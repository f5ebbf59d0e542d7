package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/ginsession"
)

func ExampleWriter_History() {
	dir, _ := os.MkdirTemp("", "audit-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "audit.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()

	w, err := audit.New(ctx, db, audit.Options{})
	if err != nil {
		panic(err)
	}
	// Normally ginsession calls Handle: Config.OnEvent = []ginsession.EventHandler{w.Handle}.
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	w.Handle(ginsession.Event{Kind: ginsession.EventLogin, Time: t0, UserID: "1", UserAgent: "curl/8.0\r\nX-Injected: 1"})
	w.Handle(ginsession.Event{Kind: ginsession.EventPlatformSwitched, Time: t0.Add(time.Minute), UserID: "1", Detail: "2"})
	w.Handle(ginsession.Event{Kind: ginsession.EventLogout, Time: t0.Add(2 * time.Minute), UserID: "1"})
	if err := w.Close(ctx); err != nil { // writes what is queued
		panic(err)
	}

	recs, _ := w.History(ctx, "1", audit.Filter{})
	for _, r := range recs {
		fmt.Printf("%s %s platform=%s ua=%s\n", r.Time.Format(time.TimeOnly), r.Kind, r.Platform, r.UserAgent)
	}
	// Output:
	// 09:02:00 logout platform= ua=
	// 09:01:00 platform_switched platform=2 ua=
	// 09:00:00 login platform= ua=curl/8.0\x0d\x0aX-Injected: 1
}
