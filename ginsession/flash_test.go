package ginsession_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// steps runs a function of the session per request, over real HTTP with
// one browser: each call is one request, committed before the next.
type steps struct {
	t   *testing.T
	a   *app
	srv *server
	c   *client
	fn  func(s *ginsession.Session)
}

func newSteps(t *testing.T) *steps {
	st := &steps{t: t, a: newApp(t, nil, nil)}
	r := gin.New()
	r.Use(st.a.mgr.Middleware())
	r.POST("/run", func(c *gin.Context) {
		st.fn(ginsession.Current(c))
		c.Status(204)
	})
	st.srv = newServer(t, r)
	st.c = st.a.client()
	return st
}

func (st *steps) run(fn func(s *ginsession.Session)) {
	st.t.Helper()
	st.fn = fn
	resp, body := st.srv.do(st.c, "POST", "/run")
	require.Equal(st.t, 204, resp.StatusCode, body)
}

type toast struct {
	Level string
	Text  string
	Link  string `msgpack:",omitempty"`
}

func TestTypedFlashes(t *testing.T) {
	st := newSteps(t)
	st.run(func(s *ginsession.Session) {
		assert.NoError(t, s.AddFlash(toast{"warn", "disk almost full", "/settings"}, "toast"))
		assert.NoError(t, s.AddFlash("saved"))
		assert.NoError(t, s.AddFlash(toast{"info", "welcome back", ""}, "toast"))
		assert.NoError(t, s.AddFlash(3, "unread"))
		assert.NoError(t, s.AddFlash(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "when"))
	})
	var (
		toasts []toast
		plain  []string
		unread []int
		when   []time.Time
		errs   []error
	)
	st.run(func(s *ginsession.Session) {
		var e1, e2, e3, e4 error
		toasts, e1 = ginsession.Flashes[toast](s, "toast")
		plain, e2 = s.Flashes()
		unread, e3 = ginsession.Flashes[int](s, "unread")
		when, e4 = ginsession.Flashes[time.Time](s, "when")
		errs = []error{e1, e2, e3, e4}
	})
	assert.NoError(t, errors.Join(errs...))
	assert.Equal(t, []toast{{"warn", "disk almost full", "/settings"}, {"info", "welcome back", ""}}, toasts, "in the order added")
	assert.Equal(t, []string{"saved"}, plain)
	assert.Equal(t, []int{3}, unread)
	assert.Equal(t, []time.Time{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, when)
	st.run(func(s *ginsession.Session) {
		toasts, _ = ginsession.Flashes[toast](s, "toast")
		plain, _ = s.Flashes()
	})
	assert.Equal(t, []toast{}, toasts, "read once, then gone: empty and non-nil")
	assert.Equal(t, []string{}, plain)
}

// A flash of another type than asked for is neither lost nor a panic: it
// stays, the others come back, and the error says so.
func TestFlashTypeMismatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		add      []any
		wantInts []int
		kept     int
		rest     []any // then read back with Flashes[any]
	}{
		{"all mismatched", []any{"one", "two"}, []int{}, 2, []any{"one", "two"}},
		{"some mismatched", []any{1, "x", 2, toast{Level: "l"}}, []int{1, 2}, 2, []any{"x", map[string]any{"Level": "l", "Text": ""}}},
		{"none mismatched", []any{1, 2}, []int{1, 2}, 0, []any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newSteps(t)
			st.run(func(s *ginsession.Session) {
				for _, v := range tc.add {
					assert.NoError(t, s.AddFlash(v, "n"))
				}
				assert.NoError(t, s.AddFlash("other category"))
			})
			var ints []int
			var err error
			st.run(func(s *ginsession.Session) { ints, err = ginsession.Flashes[int](s, "n") })
			assert.Equal(t, tc.wantInts, ints)
			if tc.kept == 0 {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ginsession.ErrFlashType)
				assert.ErrorIs(t, err, store.ErrDecode)
				var fte *ginsession.FlashTypeError
				require.ErrorAs(t, err, &fte)
				assert.Equal(t, "n", fte.Category)
				assert.Equal(t, tc.kept, fte.Kept)
				var te *store.TypeError
				assert.ErrorAs(t, err, &te, "the codec's type error is underneath")
			}
			var rest []any
			var plain []string
			st.run(func(s *ginsession.Session) {
				rest, err = ginsession.Flashes[any](s, "n")
				plain, _ = s.Flashes()
			})
			assert.NoError(t, err)
			assert.Equal(t, tc.rest, rest, "the mismatched flashes were kept, in order")
			assert.Equal(t, []string{"other category"}, plain, "other categories are untouched")
		})
	}
}

// Sessions stored before typed flashes hold a []string: they read on.
func TestFlashesLegacyFormat(t *testing.T) {
	a := newApp(t, nil, nil)
	now := store.Millis(a.mgr.Config().Now())
	c := plant(t, a, a.store.Store, "", now, now.Add(time.Hour), map[string]any{"\x00f": []string{"old one", "old two"}})
	var got []string
	var ints []int
	var err, ierr error
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/add", func(c *gin.Context) {
		_ = ginsession.Current(c).AddFlash("new", "cat")
		c.Status(204)
	})
	r.POST("/read", func(c *gin.Context) {
		s := ginsession.Current(c)
		ints, ierr = ginsession.Flashes[int](s)
		got, err = s.Flashes()
		c.Status(204)
	})
	srv := newServer(t, r)
	srv.do(c, "POST", "/add")
	srv.do(c, "POST", "/read")
	assert.Equal(t, []string{"old one", "old two"}, got)
	assert.NoError(t, err)
	assert.Empty(t, ints)
	assert.ErrorIs(t, ierr, ginsession.ErrFlashType)
}

func TestFlashErrors(t *testing.T) {
	st := newSteps(t)
	var errs []error
	st.run(func(s *ginsession.Session) {
		_, e := ginsession.Flashes[string](s, "a", "b")
		errs = []error{
			s.AddFlash("x", "a", "b"),
			e,
			s.AddFlash(make(chan int)),
			s.AddFlash(strings.Repeat("x", 100<<10)),
		}
	})
	assert.ErrorContains(t, errs[0], "one category at most")
	assert.ErrorContains(t, errs[1], "one category at most")
	assert.ErrorIs(t, errs[2], store.ErrEncode, "encoding errors surface at AddFlash")
	assert.ErrorIs(t, errs[3], store.ErrTooLarge)
	var plain []string
	st.run(func(s *ginsession.Session) { plain, _ = s.Flashes() })
	assert.Equal(t, []string{}, plain, "refused flashes left nothing behind")
}

// A flash added after the response started is refused, never lost
// silently; so is a read that would have to remove flashes.
func TestFlashAfterCommit(t *testing.T) {
	a := newApp(t, nil, nil)
	var addErr, readErr error
	var read []int
	r := gin.New()
	r.Use(a.mgr.Middleware())
	r.POST("/add", func(c *gin.Context) {
		_ = ginsession.Current(c).AddFlash(7, "n")
		c.Status(204)
	})
	r.POST("/late", func(c *gin.Context) {
		s := ginsession.Current(c)
		_, _ = ginsession.Get[string](s, "k") // load
		c.String(200, "started")
		addErr = s.AddFlash("late")
		read, readErr = ginsession.Flashes[int](s, "n")
	})
	srv := newServer(t, r)
	c := a.client()
	srv.do(c, "POST", "/add")
	srv.do(c, "POST", "/late")
	assert.ErrorIs(t, addErr, ginsession.ErrCommitted)
	assert.ErrorIs(t, readErr, ginsession.ErrCommitted)
	assert.Nil(t, read)
}
