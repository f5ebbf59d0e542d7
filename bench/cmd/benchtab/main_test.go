package main

import (
	"strings"
	"testing"
)

const sampleOutput = `goos: linux
cpu: AMD EPYC
BenchmarkRoutes/read/ours         	    2000	     20000 ns/op	         2.000 cmds/op	         1.000 rtt/op	   12635 B/op	      90 allocs/op
BenchmarkRoutes/read/ours         	    2000	     30000 ns/op	         2.000 cmds/op	         1.000 rtt/op	   12635 B/op	      90 allocs/op
BenchmarkRoutes/read/ours         	    2000	     99000 ns/op	         2.000 cmds/op	         1.000 rtt/op	   12635 B/op	      90 allocs/op
BenchmarkRoutes/read/scs-2        	    2000	     60000 ns/op	         2.000 cmds/op	         2.000 rtt/op	   22648 B/op	     342 allocs/op
BenchmarkRoutes/read/none         	    2000	      3000 ns/op	    6152 B/op	      19 allocs/op
BenchmarkRoutes/login/ours        	    2000	    100000 ns/op	       528.0 redis-B/session	   21806 B/op	     238 allocs/op
PASS
`

func TestParseAndTargets(t *testing.T) {
	tables, info, err := parse(strings.NewReader(sampleOutput))
	if err != nil || len(tables) != 1 || len(info) != 2 {
		t.Fatalf("parse: %d tables, info %q, %v", len(tables), info, err)
	}
	tb := tables[0]
	if got, _ := tb.data["read"]["ours"].get("ns/op"); got != 30000 {
		t.Errorf("median ns/op = %v, want 30000", got)
	}
	if tb.data["read"]["scs"] == nil {
		t.Error("the -N suffix was not stripped from scs-2")
	}
	want := map[string]string{
		"read ≥ 1.6× scs":                 "2.00× true",
		"≤ 80 added allocations per read": "71 true",
		"≤ 360 Redis bytes per session":   "528.00 false",
	}
	for _, tg := range targets(tb) {
		if w, ok := want[tg.text]; ok {
			if got := tg.got + " " + map[bool]string{true: "true", false: "false"}[tg.pass]; !tg.ok || got != w {
				t.Errorf("%s: got %q (measurable %v), want %q", tg.text, got, tg.ok, w)
			}
		}
	}
	var b strings.Builder
	render(&b, tb)
	if !strings.Contains(b.String(), "| scs | 60000 | 16667 | 2.00× |") {
		t.Errorf("table:\n%s", b.String())
	}
}
