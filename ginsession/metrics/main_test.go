package metrics_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// sqliteStore opens a real SQLite store in a temp dir, closed at cleanup,
// observed by obs (nil: none).
func sqliteStore(t testing.TB, obs store.Observer) *dbstore.Store {
	t.Helper()
	st, err := dbstore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), dbstore.Options{DisableSweeper: true, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
