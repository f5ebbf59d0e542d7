package main

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/bench"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/internal/testserver"
)

// TestMain doubles as the server process: the driver re-executes the test
// binary with -serve, as it re-executes the command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		return
	}
	testserver.Main(m)
}

// TestLoadSmoke drives two implementations briefly through the whole path:
// pre-creation, a server process each, the HTTP check, the mix, the
// report and the chart.
func TestLoadSmoke(t *testing.T) {
	addr := testserver.Redis(t)
	mx, err := parseMix("read=70,write=20,switch=10")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o := options{
		impls: []string{bench.Ours, bench.None}, users: 4, sessions: 20,
		duration: 500 * time.Millisecond, warmup: 100 * time.Millisecond,
		mix: mx, redis: addr, out: out, procs: 1, rounds: 2, args: []string{"-test"},
	}
	var results []*implResult
	for _, name := range o.impls {
		r := runImpl(o, name, make([]byte, 32))
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		if r.res.requests == 0 || r.res.errors != 0 {
			t.Fatalf("%s: %d requests, %d errors: %v", name, r.res.requests, r.res.errors, r.res.firstErrs)
		}
		results = append(results, r)
	}
	ours := results[0]
	if ours.cmds == 0 || ours.bytesOne == 0 || ours.bytesScale == 0 {
		t.Errorf("ours: %d commands, %d bytes per session, %.0f at scale: want all measured", ours.cmds, ours.bytesOne, ours.bytesScale)
	}
	tab := table(o, results)
	md := report(o, results)
	svg := chart(o, results)
	for _, want := range []string{"ours", "none"} {
		if !strings.Contains(tab, want) || !strings.Contains(md, "| "+want+" |") || !strings.Contains(svg, ">"+want+"<") {
			t.Errorf("%s missing from the table, report or chart", want)
		}
	}
	t.Log("\n" + tab)
}

func TestParseMix(t *testing.T) {
	m, err := parseMix("read=70,write=20,switch=10")
	if err != nil || m.total != 100 || m.cum != [nOps]int{70, 90, 100, 100} {
		t.Fatalf("got %+v, %v", m, err)
	}
	for _, bad := range []string{"", "read", "read=-1", "reed=5", "read=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

// The busy-session and rotated-cookies scenarios, briefly, on ours in
// hybrid mode: every request answers, reads check the session's user.
func TestLoadScenariosSmoke(t *testing.T) {
	addr := testserver.Redis(t)
	mx, err := parseMix("read=50,write=50")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		name    string
		shared  bool
		cookies int
	}{{"busy session", true, 0}, {"rotated cookies", false, 50}} {
		t.Run(sc.name, func(t *testing.T) {
			o := options{
				impls: []string{bench.OursHybrid}, users: 8, duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond,
				mix: mx, redis: addr, out: "", procs: 1, rounds: 1, args: []string{"-test"}, shared: sc.shared, cookies: sc.cookies,
			}
			r := runImpl(o, bench.OursHybrid, make([]byte, 32))
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.res.requests == 0 || r.res.errors != 0 {
				t.Fatalf("%d requests, %d errors: %v", r.res.requests, r.res.errors, r.res.firstErrs)
			}
		})
	}
}

// TestFleetSmoke runs the -fleet scenario briefly: three ours-hybrid
// processes on one Redis and one database (an SQLite file, then
// PostgreSQL), nginx round-robin in front. Every instance must serve, and
// no read may be stale, no session lost, no answer a 5xx. Without nginx,
// redis-server or PostgreSQL it skips, or fails under CI or
// REQUIRE_SERVICES.
func TestFleetSmoke(t *testing.T) {
	if _, err := nginxBinary(); err != nil {
		testserver.Unavailable(t, "%v", err)
	}
	addr := testserver.Redis(t)
	mx, err := parseMix("read=70,write=20,switch=10")
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			o := options{
				impls: []string{bench.OursHybrid}, users: 6, duration: 2 * time.Second, warmup: 300 * time.Millisecond,
				mix: mx, redis: addr, out: "", procs: 1, rounds: 1, fleet: 3, args: []string{"-test"},
			}
			if db == "postgres" {
				o.database = testserver.Postgres(t)
			}
			r := runImpl(o, bench.OursHybrid, make([]byte, 32))
			if r.err != nil {
				t.Fatal(r.err)
			}
			md := report(o, []*implResult{r})
			t.Log("\n" + fleetReport(r))
			f := r.res.fleet
			if f == nil || len(r.instances) != 3 {
				t.Fatalf("no fleet figures, or %d instances, want 3", len(r.instances))
			}
			for i, addr := range r.instances {
				if f.byInstance[addr] == 0 {
					t.Errorf("instance %d (%s) served no request: %v", i+1, addr, f.byInstance)
				}
			}
			if f.reads == 0 || f.cross == 0 {
				t.Errorf("%d reads checked, %d on another instance than the write's: want both above 0", f.reads, f.cross)
			}
			for name, n := range map[string]int64{"5xx": f.fivexx, "stale reads": f.stale, "lost sessions": f.lost, "errors": r.res.errors} {
				if n != 0 {
					t.Errorf("%s: %d, want 0 (first errors: %v)", name, n, r.res.firstErrs)
				}
			}
			if !strings.Contains(md, "3 instances behind nginx") {
				t.Error("the report has no fleet section")
			}
			if o.database != "" {
				// The mirror really is the PostgreSQL database, not a file.
				db, err := sql.Open("pgx", o.database)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var n int
				if err := db.QueryRow("SELECT count(*) FROM " + dbstore.DefaultTable).Scan(&n); err != nil || n < o.users {
					t.Errorf("%d sessions in PostgreSQL (%v), want at least %d", n, err, o.users)
				}
			}
		})
	}
}

// The fleet checks are not vacuous: an instance that forgets writes makes
// stale reads, one that forgets sessions makes lost ones, and a 503 counts
// as a 5xx.
func TestFleetChecksCatchFaults(t *testing.T) {
	var forget atomic.Bool // the instance answers a session of nobody
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(upstreamHeader, "fake:1")
		switch r.URL.Path {
		case bench.PathLogin:
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "x", Path: "/"})
			_, _ = w.Write([]byte("ok"))
		case bench.PathWrite, bench.PathSwitch:
			_, _ = w.Write([]byte("ok")) // and forgets it
		case bench.PathDump:
			d := bench.Seed{Username: bench.Username(1), PlatformConnectionID: 1}
			if forget.Load() {
				d.Username = ""
			}
			_ = json.NewEncoder(w).Encode(d)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	mx, err := parseMix("read=50,write=40,untouched=10")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig{impl: bench.OursHybrid, base: srv.URL, users: 1, firstUser: 1, duration: 200 * time.Millisecond, mix: mx, fleet: true}
	res, err := runLoad(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.fleet; f.stale == 0 || f.lost != 0 || f.fivexx == 0 || f.byInstance["fake:1"] != res.requests {
		t.Errorf("forgetting writes: %d stale, %d lost, %d 5xx, %v of %d requests; want stale and 5xx, no lost, all on fake:1",
			f.stale, f.lost, f.fivexx, f.byInstance, res.requests)
	}
	forget.Store(true)
	res, err = runLoad(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.fleet; f.lost == 0 || f.lost != f.reads {
		t.Errorf("forgetting sessions: %d lost of %d reads, want all", f.lost, f.reads)
	}
}

func TestCommandHidesPasswords(t *testing.T) {
	o := options{args: []string{"-fleet", "3", "-database", "postgres://u:secret@127.0.0.1/db", "-database=postgres://u:secret@127.0.0.1/db", "-mix", "read=1"}}
	got := command(o)
	if strings.Contains(got, "secret") || !strings.Contains(got, "postgres://u:xxxxx@127.0.0.1/db") || !strings.Contains(got, "-mix read=1") {
		t.Errorf("command(%q) = %q", o.args, got)
	}
}
