package security

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// TestRunnerCatches proves that every common check of the runner can
// fail: each broken case below must be caught, with the expected message.
func TestRunnerCatches(t *testing.T) {
	mkSpace := prepareSQLite(t)
	broken := []struct {
		name string
		c    adversarial
		want string // a substring of one recorded failure
	}{
		{"no attack mark", adversarial{run: func(*T, *env) {}}, "never called attack"},
		{"panic in a request", adversarial{
			app: appOptions{tweak: func(c *ginsession.Config) {
				c.OnEvent = append(c.OnEvent, func(ev ginsession.Event) {
					if ev.Kind == ginsession.EventCreated {
						panic("boom")
					}
				})
			}},
			run: func(t *T, e *env) {
				e.attack()
				e.a.client().post("/set/k", []byte("v"))
			},
		}, "panic in POST /set/k: boom"},
		{"5xx answer", adversarial{
			run: func(t *T, e *env) {
				e.attack()
				_ = e.a.st.Store.(interface{ Close() error }).Close()
				e.a.client().post("/set/k", []byte("v"))
			},
		}, "answered 503"}, // a closed store is an outage: the middleware answers 503
		{"missing reject", adversarial{
			run:  func(t *T, e *env) { e.attack(); e.a.client().get("/whoami") },
			want: expect{reject: ginsession.RejectUnknown},
		}, "want a rejected:unknown event"},
		{"wrong reject", adversarial{
			run: func(t *T, e *env) {
				e.attack()
				e.a.client().send("GET", "/whoami", nil, http.Header{"Cookie": {e.a.mgr.CookieName() + "=x"}})
			},
			want: expect{reject: ginsession.RejectUnknown},
		}, `unexpected rejected:malformed`},
		{"unexpected reject", adversarial{
			run: func(t *T, e *env) { e.attack(); e.a.withToken(store.NewToken()).get("/whoami") },
		}, "unexpected rejected events"},
		{"store changed", adversarial{
			run:  func(t *T, e *env) { e.attack(); e.a.client().set("k", "v") },
			want: expect{unchanged: true},
		}, "the store changed"},
		{"store call", adversarial{
			run:  func(t *T, e *env) { e.attack(); e.a.withToken(store.NewToken()).get("/whoami") },
			want: expect{noStoreCall: true, reject: ginsession.RejectUnknown},
		}, "store calls after the attack"},
		{"case assertion", adversarial{
			run: func(t *T, e *env) {
				e.attack()
				if got := e.a.client().whoami(); got != "nobody" {
					t.Errorf("whoami %q", got)
				}
			},
		}, `whoami ""`},
	}
	for _, b := range broken {
		t.Run(b.name, func(tt *testing.T) {
			x := &T{T: tt, xfail: true}
			play(x, mkSpace(tt), b.c)
			if !slices.ContainsFunc(x.fails, func(f string) bool { return strings.Contains(f, b.want) }) {
				tt.Errorf("the runner missed it: want a failure containing %q, got %q", b.want, x.fails)
			}
		})
	}
}
