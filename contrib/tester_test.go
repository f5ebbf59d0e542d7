package contrib_test

import (
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/tester"

	"github.com/vedfolnir/sessions/contrib"
)

// TestGinContribSuite runs gin-contrib/sessions' own store suite, unchanged,
// against the drop-in on SQLite, on a real redis-server and on the hybrid
// of both.
func TestGinContribSuite(t *testing.T) {
	cases := []struct {
		name string
		run  func(*testing.T, func(*testing.T) sessions.Store)
	}{
		{"GetSet", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.GetSet(t, f) }},
		{"DeleteKey", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.DeleteKey(t, f) }},
		{"Flashes", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.Flashes(t, f) }},
		{"Clear", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.Clear(t, f) }},
		{"Options", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.Options(t, f) }},
		{"Many", func(t *testing.T, f func(*testing.T) sessions.Store) { tester.Many(t, f) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, func(t *testing.T) sessions.Store {
						return newStore(t, b.open(t), keyring(t), contrib.Options{})
					})
				})
			}
		})
	}
}
