package contrib_test

import (
	"net/http/httptest"
	"testing"

	"github.com/vedfolnir/sessions/contrib"
	"github.com/vedfolnir/sessions/store"
)

// FuzzCookie: whatever the cookie holds, the store answers a fresh, empty
// session without an error, with and without an old store to carry from,
// and never panics.
func FuzzCookie(f *testing.F) {
	st := openSQLite(f)
	kr := keyring(f)
	plain := newStore(f, st, kr, contrib.Options{})
	carrying := newStore(f, st, kr, contrib.Options{Old: newOldCookieStore()})
	for _, seed := range []string{
		"", "x", store.NewToken().String(), store.NewToken().String() + "=",
		"MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV9fOF9fLTRBQVFaemRISnBibWNNQ0FB",
		"\x00\xff", "a;b=c", "%zz", `"quoted"`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, s := range []*contrib.Store{plain, carrying} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Cookie", name+"="+v)
			sess, err := s.Get(r, name)
			if err != nil {
				t.Fatalf("cookie %q: %v", v, err)
			}
			if !sess.IsNew || len(sess.Values) != 0 {
				t.Fatalf("cookie %q: a session with %d values", v, len(sess.Values))
			}
		}
	})
}
