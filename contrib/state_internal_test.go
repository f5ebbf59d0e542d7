package contrib

import (
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/store"
)

// TestStatesForgotten: the store forgets a session's state once the
// session is garbage: serving many requests leaves no growing table.
func TestStatesForgotten(t *testing.T) {
	st, err := dbstore.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"), dbstore.Options{DisableSweeper: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, _ := store.ParseKeyring(store.GenerateKey())
	s, err := NewStore(st, kr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		s.states.Range(func(any, any) bool { n++; return true })
		return n
	}
	for range 1000 {
		if _, err := s.Get(httptest.NewRequest("GET", "/", nil), "x"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50 && count() > 10; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n > 10 {
		t.Fatalf("%d states kept after 1000 requests ended", n)
	}
}
