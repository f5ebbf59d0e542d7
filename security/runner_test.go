package security

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/internal/sealed"

	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// adversarial is one attack of the table.
type adversarial struct {
	name string
	// run sets the scene, calls e.attack() at the moment of the attack,
	// attacks, and checks what only this case knows.
	run  func(t *T, e *env)
	want expect
	// app shapes the case's app (TLS, fingerprinting, ...).
	app appOptions
	// alone runs the case while no other case runs (it measures memory).
	alone bool
	// known names an open issue this case demonstrates: the case is
	// expected to fail, and is skipped with this text when it does.
	known string
}

// expect is what the runner checks after every case, from the mark on.
type expect struct {
	// reject: a "rejected" event with this reason was emitted. Empty:
	// no "rejected" event at all, unless anyReject.
	reject    string
	anyReject bool
	// unchanged: the store holds exactly what it held at the mark.
	unchanged bool
	// noStoreCall: the app made no store call at all.
	noStoreCall bool
}

// env is what a case works with: its app, the store underneath, and the
// key ring the app seals with.
type env struct {
	t     *T
	space space
	a     *app
	kr    *store.Keyring

	// clock is the app's clock (real time unless a case moves it).
	clock *clock

	marked   bool
	snap     string
	evMark   int
	callMark int64
	apps     []*app
}

// attack marks the moment the attack starts: expectations are checked
// against the state at this point.
func (e *env) attack() {
	e.t.Helper()
	e.marked = true
	e.snap = e.snapshot()
	e.evMark = e.a.events.len()
	e.callMark = e.a.st.calls.Load()
}

func (e *env) snapshot() string {
	e.t.Helper()
	s, err := e.a.raw.snapshot(context.Background())
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	return s
}

// other starts a second app instance on the same backend and key ring, in
// namespace ns (another table, another prefix).
func (e *env) other(ns string, o appOptions) *app {
	e.t.Helper()
	st, raw := e.space.open(e.t, ns)
	a := newApp(e.t, st, raw, e.kr, o)
	e.apps = append(e.apps, a)
	return a
}

func (e *env) ctx() context.Context { return context.Background() }

// entry reads key's entry through the store API.
func (e *env) entry(key string) *store.Entry {
	e.t.Helper()
	en, err := e.a.st.Store.Get(e.ctx(), key)
	if err != nil {
		e.t.Fatalf("get %s: %v", store.Handle(key), err)
	}
	return en
}

// open decrypts and decodes a stored entry the way the app would.
func (e *env) open(en *store.Entry) (map[string][]byte, error) {
	plain, _, err := e.kr.OpenWith(en.Key, sealed.Bound, sealed.Bindings(nil, en), en.Payload)
	if err != nil {
		return nil, err
	}
	return store.DecodeRecord(plain, store.Limits{})
}

// reseal replaces key's payload, through the store API, with plaintext
// sealed by the app's own key ring as the session layer seals it.
func (e *env) reseal(key string, plaintext []byte) {
	e.t.Helper()
	en := e.entry(key)
	p, err := e.kr.SealWith(key, sealed.Bound, sealed.Bindings(nil, en), plaintext)
	if err != nil {
		e.t.Fatalf("seal: %v", err)
	}
	en.Payload = p
	prev := en.Version
	en.Version++
	if err := e.a.st.Store.Put(e.ctx(), en, prev); err != nil {
		e.t.Fatalf("put: %v", err)
	}
}

// T is the case's testing.T. For a case with a known issue it records
// failures instead of reporting them, so the runner can tell whether the
// issue still reproduces.
type T struct {
	*testing.T
	xfail bool
	mu    sync.Mutex
	fails []string
}

// xfailStop unwinds a case with a known issue at its first fatal failure.
type xfailStop struct{}

func (t *T) record(msg string) {
	t.mu.Lock()
	t.fails = append(t.fails, msg)
	t.mu.Unlock()
}

func (t *T) Errorf(format string, args ...any) {
	t.T.Helper()
	if t.xfail {
		t.record(fmt.Sprintf(format, args...))
		return
	}
	t.T.Errorf(format, args...)
}

func (t *T) Error(args ...any) {
	t.T.Helper()
	t.Errorf("%s", fmt.Sprint(args...))
}

func (t *T) Fail() {
	t.T.Helper()
	t.Errorf("failed")
}

func (t *T) FailNow() {
	t.T.Helper()
	if t.xfail {
		t.record("failed")
		panic(xfailStop{})
	}
	t.T.FailNow()
}

func (t *T) Fatalf(format string, args ...any) {
	t.T.Helper()
	if t.xfail {
		t.record(fmt.Sprintf(format, args...))
		panic(xfailStop{})
	}
	t.T.Fatalf(format, args...)
}

func (t *T) Fatal(args ...any) {
	t.T.Helper()
	t.Fatalf("%s", fmt.Sprint(args...))
}

func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fails) > 0 || t.T.Failed()
}

// TestAdversarial runs every case of the table against every backend.
func TestAdversarial(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			start := time.Now()
			newSpace := b.prepare(t)
			for _, c := range cases() {
				t.Run(c.name, func(t *testing.T) {
					if !c.alone {
						t.Parallel()
					}
					runCase(t, newSpace(t), c)
				})
			}
			t.Cleanup(func() { t.Logf("%s: %d cases in %v", b.name, len(cases()), time.Since(start).Round(time.Millisecond)) })
		})
	}
}

func runCase(tt *testing.T, sp space, c adversarial) {
	t := &T{T: tt, xfail: c.known != ""}
	play(t, sp, c)
	if !t.xfail {
		return
	}
	if len(t.fails) == 0 {
		t.T.Errorf("known issue no longer reproduces (fixed?): remove the known mark of this case.\nissue: %s", c.known)
		return
	}
	for _, f := range t.fails {
		t.T.Logf("as expected for the known issue: %s", f)
	}
	t.T.Skipf("KNOWN ISSUE: %s", c.known)
}

// play builds the case's app, runs the case and the common checks. With
// t.xfail, failures are recorded in t.fails and a fatal one ends play.
func play(t *T, sp space, c adversarial) {
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		t.T.Fatal(err)
	}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(xfailStop); !ok {
				panic(p)
			}
		}
	}()
	st, raw := sp.open(t, "a")
	clk := &clock{}
	o := c.app
	o.clock = clk
	e := &env{t: t, space: sp, kr: kr, clock: clk, a: newApp(t, st, raw, kr, o)}
	e.apps = []*app{e.a}
	c.run(t, e)
	if !e.marked {
		t.Fatalf("the case never called attack()")
	}
	check(t, e, c.want)
}

// check asserts what every attack must leave true.
func check(t *T, e *env, want expect) {
	t.Helper()
	for _, a := range e.apps {
		for _, f := range a.faultList() {
			t.Errorf("server fault: %s", f)
		}
		// Still up, and still answering.
		r := a.client().get("/ip")
		if r.status != 200 {
			t.Errorf("the app no longer answers: %d %s", r.status, r.body)
		}
	}
	rejects := e.a.events.rejects(e.evMark)
	switch {
	case want.reject != "":
		if !slices.Contains(rejects, want.reject) {
			t.Errorf("want a rejected:%s event after the attack; got rejects %q", want.reject, rejects)
		}
		for _, r := range rejects {
			if r != want.reject && !want.anyReject {
				t.Errorf("unexpected rejected:%s event (want only %s)", r, want.reject)
			}
		}
	case !want.anyReject && len(rejects) > 0:
		t.Errorf("unexpected rejected events %q", rejects)
	}
	if want.unchanged {
		if now := e.snapshot(); now != e.snap {
			t.Errorf("the store changed:\n%s", diffLines(e.snap, now))
		}
	}
	if want.noStoreCall {
		if n := e.a.st.calls.Load() - e.callMark; n != 0 {
			t.Errorf("%d store calls after the attack, want none", n)
		}
	}
}

// diffLines lists the lines only one of two snapshots has, clipped.
func diffLines(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out strings.Builder
	for _, l := range b {
		if !slices.Contains(a, l) {
			fmt.Fprintf(&out, "- %s\n", clipLine(l))
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			fmt.Fprintf(&out, "+ %s\n", clipLine(l))
		}
	}
	return out.String()
}

func clipLine(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "..."
	}
	return s
}

// allocs runs f and returns the bytes allocated meanwhile (the whole
// process: run it in cases marked alone).
func allocs(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// has reports whether s contains every one of subs.
func has(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
